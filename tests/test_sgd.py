import torch

from cifarctl.models.net.network import Net
from cifarctl.recipes.sgd import MomentumSGD


def test_matches_torch_optim_sgd_bit_for_bit():
    torch.manual_seed(0)
    ours, theirs = Net(), Net()
    theirs.load_state_dict(ours.state_dict())
    our_optimizer = MomentumSGD(ours.parameters(), lr=0.001, momentum=0.9)
    their_optimizer = torch.optim.SGD(theirs.parameters(), lr=0.001, momentum=0.9, foreach=False)
    for _step in range(30):
        inputs, targets = torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))
        for model, optimizer in ((ours, our_optimizer), (theirs, their_optimizer)):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(inputs), targets).backward()
            optimizer.step()
    for (name, ours_value), theirs_value in zip(ours.state_dict().items(), theirs.state_dict().values()):
        assert torch.equal(ours_value, theirs_value), name


def test_state_round_trip():
    model = Net()
    optimizer = MomentumSGD(model.parameters(), lr=0.1, momentum=0.5)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    optimizer.step()
    restored = MomentumSGD(model.parameters(), lr=0.1, momentum=0.5)
    restored.load_state_dict(optimizer.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(optimizer.buffers, restored.buffers))
