"""The tutorial's recipe: cross-entropy, SGD lr 0.001 momentum 0.9, batch 4, 2 epochs.

Its optimiser is cifarctl's own momentum SGD (bit-identical to torch.optim.SGD, see
cifarctl/sgd.py), because constructing a torch.optim optimiser costs 1.5 s of start-up.
"""

from cifarctl.recipes import Recipe

RECIPE = Recipe(name="tutorial", epochs=2, batch_size=4, lr=0.001, momentum=0.9, optimizer="tutorial-sgd")
