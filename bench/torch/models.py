"""The reference CNNs in PyTorch, identical to fl-ml's (names, shapes, order).

cnn-small: the Opacus MNIST example's SampleConvNet.
cnn-fedavg: the CNN of McMahan et al. 2017 ("same" padding, 1,663,370 params).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class CnnSmall(nn.Module):
    def __init__(self, act="tanh"):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 8, 2, padding=3)
        self.conv2 = nn.Conv2d(16, 32, 4, 2)
        self.fc1 = nn.Linear(32 * 4 * 4, 32)
        self.fc2 = nn.Linear(32, 10)
        self.act = torch.tanh if act == "tanh" else F.relu

    def forward(self, x):
        x = self.act(self.conv1(x))
        x = F.max_pool2d(x, 2, 1)
        x = self.act(self.conv2(x))
        x = F.max_pool2d(x, 2, 1)
        x = x.flatten(1)
        x = self.act(self.fc1(x))
        return self.fc2(x)


class CnnFedAvg(nn.Module):
    def __init__(self, act="relu"):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, 5, padding=2)
        self.fc1 = nn.Linear(64 * 7 * 7, 512)
        self.fc2 = nn.Linear(512, 10)
        self.act = torch.tanh if act == "tanh" else F.relu

    def forward(self, x):
        x = F.max_pool2d(self.act(self.conv1(x)), 2, 2)
        x = F.max_pool2d(self.act(self.conv2(x)), 2, 2)
        x = self.act(self.fc1(x.flatten(1)))
        return self.fc2(x)
