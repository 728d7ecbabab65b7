#!/usr/bin/python3
# The PyTorch twin of `norma train` with its defaults (lenet, MNIST, 1 epoch, SGD momentum 0.9,
# lr 0.05, batch 128, constant lr), to put norma's test accuracy next to PyTorch's:
#   /usr/bin/python3 scripts/train_lenet_torch.py [bn|none] [SEED] [DATA_DIR]
# Reads the raw IDX files that `norma fetch mnist` leaves in DATA_DIR/mnist (default ./data).
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

norm = sys.argv[1] if len(sys.argv) > 1 else "bn"
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
root = (sys.argv[3] if len(sys.argv) > 3 else "data") + "/mnist/"
torch.set_num_threads(2)
torch.manual_seed(seed)


def images(name):
    x = np.frombuffer(open(root + name, "rb").read()[16:], dtype=np.uint8).reshape(-1, 1, 28, 28)
    return (torch.tensor(x).float() / 255 - 0.1307) / 0.3081


def labels(name):
    return torch.tensor(np.frombuffer(open(root + name, "rb").read()[8:], dtype=np.uint8).astype(np.int64))


x_train, y_train = images("train-images-idx3-ubyte"), labels("train-labels-idx1-ubyte")
x_test, y_test = images("t10k-images-idx3-ubyte"), labels("t10k-labels-idx1-ubyte")


class LeNet(nn.Module):  # layers/resnet/models.cpp's LeNet
    def __init__(self):
        super().__init__()
        bias = norm == "none"
        make_norm = (lambda c: nn.BatchNorm2d(c)) if norm == "bn" else (lambda c: nn.Identity())
        self.conv1, self.bn1 = nn.Conv2d(1, 32, 3, padding=1, bias=bias), make_norm(32)
        self.conv2, self.bn2 = nn.Conv2d(32, 64, 3, padding=1, bias=bias), make_norm(64)
        self.fc1 = nn.Linear(3136, 128, bias=bias)
        self.bn3 = nn.BatchNorm1d(128) if norm == "bn" else nn.Identity()
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        h = F.max_pool2d(F.relu(self.bn2(self.conv2(h))), 2)
        return self.fc2(F.relu(self.bn3(self.fc1(h.flatten(1)))))


model = LeNet()
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
start = time.time()
order = torch.randperm(len(x_train))
model.train()
for i in range(0, len(x_train), 128):
    batch = order[i:i + 128]
    loss = F.cross_entropy(model(x_train[batch]), y_train[batch])
    opt.zero_grad()
    loss.backward()
    opt.step()
model.eval()
with torch.no_grad():
    logits = torch.cat([model(x_test[i:i + 1000]) for i in range(0, len(x_test), 1000)])
accuracy = (logits.argmax(1) == y_test).float().mean().item()
print(f"lenet + {norm}, seed {seed}: test accuracy {100 * accuracy:.2f}%, "
      f"loss {F.cross_entropy(logits, y_test).item():.4f}, {time.time() - start:.0f} s")
