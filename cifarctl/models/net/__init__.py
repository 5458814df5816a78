"""The tutorial's `Net` (the torch code is in network.py), trained the tutorial's way."""

from cifarctl.models.registry import Family, ModelOption
from cifarctl.recipes import Recipe

TUTORIAL_MEAN_STD = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))  # transforms.Normalize((0.5,)*3, (0.5,)*3)

# The tutorial's recipe: cross-entropy, SGD lr 0.001 momentum 0.9, batch 4, 2 epochs. Its
# optimiser is cifarctl's own momentum SGD (bit-identical to torch.optim.SGD, see
# cifarctl/recipes/sgd.py), because constructing a torch.optim optimiser costs 1.5 s of start-up.
# Saved as the bare state_dict the tutorial saves, which network.py's `matches` recognises.
FAMILY = Family(
    name="net",
    title="Net",
    summary="the tutorial's small CNN (conv 3-6-16, fc 400-120-84-10)",
    recipe=Recipe(name="tutorial", epochs=2, batch_size=4, lr=0.001, momentum=0.9, optimizer="tutorial-sgd"),
    options=(ModelOption("width", 6, 1, 4096, "channels of the first conv (the tutorial's GPU experiment)"),),
    normalization=TUTORIAL_MEAN_STD,
    plain_state_dict=True,
    head="fc3", explain_layer="conv2",
    search_space=("lr=0.0003:0.01:log", "momentum=0.8:0.95", "width=6,16,32"),  # `tune`'s default space
)
