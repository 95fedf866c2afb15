"""测量每个用 ``check_memory`` 把关的函数的内存峰值（由测试在子进程里运行）。

用法：``python memory_probe.py 名字 ...``，打印 JSON
``{名字: [check_memory 估计的字节数, 实测的峰值增长（字节）]}``。

每个名字在一个 fork 出的子进程里测：先按很小的规模调用一次（热身：
惰性初始化、线程池等不计入），记下当前的常驻内存，再按几百 MB 的规模调用，
峰值增长 = 调用后 ``ru_maxrss`` − 调用前的常驻内存。参数（模型、数据）在
计时之前建好，不算在内。只在 Linux 上可用（读 /proc/self/statm）。
"""

from __future__ import annotations

import json
import os
import resource
import sys

import torch

torch.set_num_threads(1)  # fork 之前不启动线程池，子进程里才能安全地计算

from torch import nn  # noqa: E402

from dlbasics import (  # noqa: E402
    activations,
    cnn,
    generalization,
    optimizers,
    softmax,
    spiral,
    tensors,
    utils,
    validation,
    width_depth,
)

CONVS = nn.Sequential(
    nn.Conv2d(1, 6, 5, padding=2),
    nn.Sigmoid(),
    nn.AvgPool2d(2),
    nn.Conv2d(6, 16, 5),
    nn.Sigmoid(),
    nn.AvgPool2d(2),
)


def gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def case(label: str, big: bool):
    """``(函数, 位置参数, 关键字参数)``；big 为 False 时是热身用的小规模。"""

    def pick(small, large):
        return large if big else small

    if label == "make_spiral":
        n = pick(10, 1_000_000)
        return spiral.make_spiral, (n, 3), {"generator": gen()}
    if label == "make_two_layer_net":
        return spiral.make_two_layer_net, (pick(2, 2000), pick(4, 10_000)), {}
    if label == "grid_lines":
        return spiral.grid_lines, (1.0, pick(3, 1000), pick(5, 4000)), {}
    if label == "make_blobs":
        n = pick(10, 1_000_000)
        args = (n, [(0.0, 0.0), (1.0, 1.0)], 1.0)
        return softmax.make_blobs, args, {"generator": gen()}
    if label == "make_line_data":
        return (
            optimizers.make_line_data,
            (pick(10, 5_000_000),),
            {"generator": gen()},
        )
    if label == "mse_surface":
        n, m = pick(5, 1000), pick(3, 100)
        X, y = torch.rand(n, 1), torch.rand(n, 1)
        grid = torch.linspace(0.0, 1.0, m)
        return optimizers.mse_surface, (X, y, grid, grid.clone()), {}
    if label == "square_grid":
        return utils.square_grid, (1.0, pick(4, 2000)), {}
    if label == "square_grid_float64":
        return (
            utils.square_grid,
            (1.0, pick(4, 1500)),
            {"dtype": torch.float64},
        )
    if label == "region_grid":
        torch.manual_seed(0)
        model = activations.DeepMLP(2, 32)
        return width_depth.region_grid, (model,), {"resolution": pick(4, 300)}
    if label == "DeepMLP":
        return activations.DeepMLP, (2, pick(4, 4000)), {}
    if label == "DeepMLP_wide":
        return activations.DeepMLP, (1, pick(4, 3_000_000)), {}
    if label == "matrix_product_norms":
        return (
            activations.matrix_product_norms,
            (3, pick(4, 2000)),
            {"generator": gen()},
        )
    if label in ("layer_table", "count_macs"):
        shape = (1, pick(28, 1100), pick(28, 1100))
        return getattr(cnn, label), (CONVS, shape), {}
    if label == "preactivation_rms":
        kwargs = {"depth": 2, "width": pick(4, 200), "generator": gen()}
        kwargs["n_samples"] = pick(4, 25_000)
        return activations.preactivation_rms, ("tanh", "xavier"), kwargs
    if label == "random_shift":
        x = torch.rand(pick(2, 3_000), 1, 8, 8)
        return cnn.random_shift, (x, pick(1, 40)), {"generator": gen()}
    if label == "make_data":
        n = pick(10, 2_000_000)
        return generalization.make_data, (n, 0.1), {"generator": gen()}
    if label == "poly_features":
        x = torch.rand(pick(10, 60_000), dtype=torch.float64)
        return generalization.poly_features, (x, pick(2, 100)), {}
    if label == "make_mlp":
        return generalization.make_mlp, (pick(4, 3000),), {}
    if label == "make_linear_model":
        return spiral.make_linear_model, (pick(2, 10_000), pick(3, 5000)), {}
    if label == "TinyMLP":
        return tensors.TinyMLP, (pick(2, 3000), pick(4, 5000), 10), {}
    if label == "NoisyLineDataset":
        return (
            tensors.NoisyLineDataset,
            (pick(10, 4_000_000),),
            {"generator": gen()},
        )
    raise KeyError(label)


def rss() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(label: str) -> tuple[int, int]:
    counted = []

    def recording(*args, **kwargs):
        counted.append(validation.check_memory(*args, **kwargs))
        return counted[-1]

    for module in (
        activations, cnn, generalization, optimizers, softmax, spiral,
        tensors, utils,
    ):  # fmt: skip
        module.check_memory = recording
    width_depth.check_memory = recording
    fn, args, kwargs = case(label, big=False)
    fn(*args, **kwargs)
    fn, args, kwargs = case(label, big=True)
    counted.clear()
    before = rss()
    result = fn(*args, **kwargs)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    del result
    return max(counted), peak - before  # 嵌套的检查取最外层（最大）的估计


def main(labels: list[str]) -> None:
    results = {}
    for label in labels:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            try:
                answer = measure(label)
            except BaseException as err:  # 交给父进程报告
                answer = repr(err)
            os.write(write, json.dumps(answer).encode())
            os._exit(0)
        os.close(write)
        data = b""
        while chunk := os.read(read, 65536):
            data += chunk
        os.close(read)
        os.waitpid(pid, 0)
        results[label] = json.loads(data)
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1:])
