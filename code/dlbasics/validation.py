"""全包共用的参数检查：出错时抛出 ``ValueError`` 或 ``TypeError``，
信息里写明参数名、收到的值和改法。

每种检查（``check_int``、``check_tensor`` ……）只在这里写一次。一个函数
要检查哪些参数，写在它所在模块里一个名为 ``_check_<函数名>`` 的函数中，
再用 ``@validated_by(_check_<函数名>)`` 接到函数上（见 ``validated_by``）：
函数体里只剩它要讲的思路，章节用 ``literalinclude`` 展示的正是这一部分。
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
import os
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import torch

# 一次调用的内存峰值最多占本机现在可用内存的这个比例；超过就在分配之前拒绝
MEMORY_FRACTION = 0.8

F = TypeVar("F", bound=Callable)


def validated_by(checker: Callable[..., object]) -> Callable[[F], F]:
    """装饰器：每次调用被装饰的函数之前，先用同样的参数调用 ``checker``。

    ``checker`` 的参数与被装饰的函数相同（方法连同 ``self``），收到的是
    补上默认值之后的全部参数；它发现错误就抛出 ``ValueError`` 或
    ``TypeError``，否则什么也不返回。函数本身照常收到调用者给的参数。

    用法（检查与函数写在同一模块里，检查在前）::

        def _check_scale(x, factor):
            check_tensor("x", x, floating=True)
            check_positive_float("factor", factor)

        @validated_by(_check_scale)
        def scale(x, factor):
            return x * factor

    ``scale.checker`` 是所用的检查函数。类的参数检查接在 ``__init__`` 上。
    """
    if not callable(checker):
        raise TypeError(f"checker 应是函数，收到 {checker!r}")

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def checked(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            checker(*bound.args, **bound.kwargs)
            return fn(*args, **kwargs)

        checked.checker = checker
        return checked  # type: ignore[return-value]

    return decorate


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"形状为 {tuple(value.shape)}、类型为 {value.dtype} 的张量"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_int(name: str, value: object, *, minimum: int = 1) -> int:
    """``value`` 应为不小于 ``minimum`` 的整数（Python 或 NumPy 整数）。

    bool 不算整数。

    返回 Python 的 ``int``，方便后面直接使用。
    """
    if isinstance(value, bool | np.bool_) or not isinstance(
        value, numbers.Integral
    ):
        raise TypeError(
            f"{name} 必须是整数，收到 {_describe(value)}；"
            f"例如写成 {name}={max(minimum, 1)}"
        )
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} 必须是不小于 {minimum} 的整数，收到 {value}")
    return value


def check_positive_int(name: str, value: object) -> int:
    """``value`` 应为正整数；返回 Python 的 ``int``。"""
    return check_int(name, value, minimum=1)


def check_float(
    name: str,
    value: object,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` 应为有限实数，且落在给定区间内；返回 Python 的 ``float``。

    ``low_open``/``high_open`` 为 True 时不含端点。
    """
    if isinstance(value, bool | np.bool_) or not isinstance(
        value, numbers.Real
    ):
        raise TypeError(f"{name} 必须是实数，收到 {_describe(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} 必须是有限的数，收到 {value}")
    below = value <= low if low_open else value < low
    above = value >= high if high_open else value > high
    if below or above:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise ValueError(
            f"{name} 应在 {left}{low:g}, {high:g}{right} 内，收到 {value:g}"
        )
    return value


def check_positive_float(name: str, value: object) -> float:
    """``value`` 应为有限的正数（如学习率、标准差）。"""
    return check_float(name, value, low=0.0, low_open=True)


def check_tensor(
    name: str,
    x: object,
    *,
    ndim: int | tuple[int, ...] | None = None,
    floating: bool = False,
    nonempty: bool = True,
    finite: bool = False,
) -> torch.Tensor:
    """``x`` 应为 ``torch.Tensor``，并满足给定的阶数、类型与取值要求。"""
    if not isinstance(x, torch.Tensor):
        hint = (
            "，可用 torch.as_tensor(...) 转换"
            if isinstance(x, list | tuple | np.ndarray)
            else ""
        )
        raise TypeError(
            f"{name} 必须是 torch.Tensor，收到 {_describe(x)}{hint}"
        )
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if x.ndim not in allowed:
            if len(allowed) == 1:
                common = {0: "（标量）", 1: "（向量）", 2: "（矩阵）"}
                want = f"{allowed[0]} 阶张量{common.get(allowed[0], '')}"
            elif allowed == tuple(range(allowed[0], allowed[-1] + 1)):
                want = f"至少 {allowed[0]} 阶的张量"
            else:
                want = "或".join(str(n) for n in allowed) + " 阶张量"
            raise ValueError(f"{name} 应是{want}，收到形状 {tuple(x.shape)}")
    if floating and not x.is_floating_point():
        raise TypeError(
            f"{name} 必须是浮点张量，收到 {x.dtype}；可用 {name}.float() 转换"
        )
    if nonempty and x.numel() == 0:
        raise ValueError(f"{name} 是空张量（形状 {tuple(x.shape)}），没有数据")
    if finite and x.is_floating_point() and not torch.isfinite(x).all():
        raise ValueError(f"{name} 含有 NaN 或 ±inf，请先检查数据")
    return x


def check_labels(
    name: str,
    y: object,
    *,
    n: int | None = None,
    num_classes: int | None = None,
) -> torch.Tensor:
    """类别标签：一阶、``torch.long``、取值在 0 到 C-1 之间（C 给出时）。"""
    y = check_tensor(name, y, ndim=1)
    if y.dtype != torch.long:
        raise TypeError(
            f"{name} 必须是 torch.long（int64）的类别编号，收到 {y.dtype}；"
            f"可用 {name}.long() 转换"
        )
    if n is not None and len(y) != n:
        raise ValueError(
            f"{name} 有 {len(y)} 个标签，但数据有 {n} 个样本，两者应相等"
        )
    if y.min() < 0:
        raise ValueError(
            f"{name} 的类别编号应从 0 开始，收到最小值 {int(y.min())}"
        )
    if num_classes is not None and y.max() >= num_classes:
        raise ValueError(
            f"{name} 的类别编号应小于类别数 {num_classes}，"
            f"收到最大值 {int(y.max())}"
        )
    return y


def check_generator(name: str, generator: object, *, required: bool = True):
    """随机数生成器：``torch.Generator``；``required=False`` 时也可为 None。"""
    if generator is None and not required:
        return None
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"{name} 必须是 torch.Generator，收到 {_describe(generator)}；"
            "例如 torch.Generator().manual_seed(0)"
        )
    return generator


def physical_memory_bytes() -> int | None:
    """本机的物理内存（字节）；查不到时返回 None。"""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def available_memory_bytes() -> int | None:
    """本机现在可用的内存（字节）：Linux 上读 /proc/meminfo 的 MemAvailable，
    读不到时用 ``os.sysconf("SC_AVPHYS_PAGES")``，再不行用物理内存；
    都查不到时返回 None。"""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return physical_memory_bytes()


def check_memory(
    name: str, n_elements: int, bytes_per_element: int = 4
) -> int:
    """调用之前，确认它的内存峰值不超过本机现在可用内存的 ``MEMORY_FRACTION``。

    ``n_elements × bytes_per_element`` 是调用方估计的峰值（字节）：各处按
    实测的峰值来估计（``tests/test_validation.py`` 在子进程里核对）。
    返回估计的字节数。
    """
    needed = n_elements * bytes_per_element
    available = available_memory_bytes()
    if available is not None and needed > MEMORY_FRACTION * available:
        raise ValueError(
            f"{name} 太大：需要约 {needed / 2**30:.1f} GiB 内存，"
            f"本机现在只有 {available / 2**30:.1f} GiB 可用；请把它调小"
        )
    return needed


def check_float32_range(name: str, value: float) -> None:
    """一个要用 float32 存的量（如 w·x）的绝对值不能超出 float32 的范围，
    否则悄悄变成 inf。"""
    limit = float(torch.finfo(torch.float32).max)
    if not abs(value) < limit:
        raise ValueError(
            f"{name} 可达 {value:.3g}，超出 float32 的范围（约 {limit:.2g}），"
            "结果会变成 inf；请把它调小"
        )


def check_step(name: str, h: object, x: torch.Tensor) -> float:
    """差分的步长 ``h`` 应为正数，且大到能改变 ``x``（浮点张量）。

    ``h`` 小于 ``x`` 的数据类型在 max(1, |x|) 处的间隔（eps·max(1, |x|)）时，
    x + h 舍入后与 x 相同，差分悄悄地等于 0，所以拒绝。
    """
    h = check_positive_float(name, h)
    finite = x.detach()[torch.isfinite(x.detach())]
    scale = max(1.0, float(finite.abs().max())) if finite.numel() else 1.0
    smallest = torch.finfo(x.dtype).eps * scale
    if h < smallest:
        raise ValueError(
            f"{name} 是 {h:g}：步长太小，x + h 与 x 相同，差分恒为 0；"
            f"{x.dtype} 下请取不小于 {smallest:.1e} 的步长"
        )
    return h


def check_instance(
    name: str, value: object, expected: type | tuple[type, ...]
):
    """``value`` 应是 ``expected`` 类型（或其子类）的对象；返回它本身。"""
    if not isinstance(value, expected):
        types = expected if isinstance(expected, tuple) else (expected,)
        want = " 或 ".join(t.__name__ for t in types)
        raise TypeError(f"{name} 应是 {want}，收到 {type(value).__name__}")
    return value


def check_pair(name: str, value: object, example: str = "(a, b)") -> tuple:
    """``value`` 应是恰好两个元素的元组或列表；返回元组。"""
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise ValueError(f"{name} 应是两个值，如 {example}，收到 {value!r}")
    return tuple(value)


# 一次调用最多做这么多次“乘加”（粗略估计）；超过就在开始计算之前拒绝。
# 本书最大的一次调用（AlexNet 式网络在手写数字上训练 25 轮）约 3·10¹⁰ 次；
# 10¹² 次在 2 核的机器上要算一分钟以上，多半是参数多写了几个 0
WORK_LIMIT = 10**12
# 一次 Python 层面的循环（一次小批量更新、一个逐元素赋值）按这么多次乘加计：
# 它要几微秒到几十微秒，这段时间里 CPU 能做约 10⁵ 次乘加
PYTHON_STEP = 10**5


def check_work(
    name: str, value: object, work: int, *, limit: int = WORK_LIMIT
):
    """估计的计算量 ``work``（乘加次数）超过 ``limit`` 时拒绝这次调用。

    ``name``、``value`` 是让计算量变大的那个参数及其取值（写进错误信息）；
    计算量大致与 ``value`` 成正比，信息里给出它大约可以取到多大。
    """
    if work > limit:
        hint = ""
        if isinstance(value, int | float) and value > 0:
            hint = f"，约 {max(int(value * limit // work), 1):,} 以下"
        raise ValueError(
            f"{name}={_describe(value)} 太大：这次调用约要做 {work:.1e} 次"
            f"乘加，超过上限 {limit:.0e}（本机上要算一分钟以上）；"
            f"请把 {name} 调小{hint}"
        )


# 设置数据类（``*Config``）里各种数的上限。本书用到的最大值远在其下
# （样本数、步数最多 10⁴，网络最宽 256、最深 20，种子最多 5 个，多项式最高
# 12 次）；超过上限多半是多写了几个 0，照收的话实验要算几个小时或耗尽内存
MAX_COUNT = 10**6  # 样本数、训练步数、轮数、参数预算
MAX_WIDTH = 10**4  # 一层的宽度、类别数、网格每边的点数
MAX_DEPTH = 1000  # 网络的层数、多项式的次数
MAX_SEEDS = 1000  # 一组种子（或一组取值）最多有几个


def check_count(
    name: str, value: object, *, maximum: int = MAX_COUNT, minimum: int = 1
) -> int:
    """``value`` 应为 ``minimum`` 到 ``maximum`` 之间的整数；返回 ``int``。"""
    value = check_int(name, value, minimum=minimum)
    if value > maximum:
        raise ValueError(
            f"{name}={value:,} 太大：上限是 {maximum:,}（本书用到的值远小于"
            f"它，这么大的值要算几个小时或耗尽内存）；请把 {name} 调小"
        )
    return value


def check_sequence(name: str, value: object, example: str) -> tuple:
    """``value`` 应是非空的元组或列表，最多 ``MAX_SEEDS`` 个元素。"""
    if not isinstance(value, tuple | list):
        raise TypeError(
            f"{name} 应是元组，如 {name}={example}，收到 {_describe(value)}"
        )
    if not value:
        raise ValueError(f"{name} 是空的，至少要有一个值，如 {example}")
    if len(value) > MAX_SEEDS:
        raise ValueError(
            f"{name} 有 {len(value):,} 个值，太多了：上限是 {MAX_SEEDS}"
            f"（每个值都要重做一遍实验）；请只取其中几个"
        )
    return tuple(value)


def check_seeds(name: str, value: object) -> tuple[int, ...]:
    """一组随机种子：非空的元组（或列表），每个都是非负整数。"""
    seeds = check_sequence(name, value, "(0, 1, 2)")
    for seed in seeds:
        check_int(f"{name} 中的种子", seed, minimum=0)
    return seeds


def check_counts(
    name: str, value: object, *, maximum: int = MAX_COUNT, minimum: int = 1
) -> tuple[int, ...]:
    """一组整数（深度、宽度、样本数……）：非空，每个都在给定范围内。"""
    values = check_sequence(name, value, f"({minimum}, {minimum + 1})")
    for item in values:
        check_count(f"{name} 中的值", item, maximum=maximum, minimum=minimum)
    return values


def check_floats(
    name: str, value: object, *, positive: bool = True
) -> tuple[float, ...]:
    """一组有限实数（学习率、权重衰减……）：非空，每个都为正
    （``positive=False`` 时非负）。"""
    values = check_sequence(name, value, "(0.01, 0.1)")
    for item in values:
        check_float(f"{name} 中的值", item, low=0.0, low_open=positive)
    return values
