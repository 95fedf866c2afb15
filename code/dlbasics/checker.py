"""检查读者写的函数：逐个用例运行，报告全部通过，或第一个没有通过的用例。

各章“编程练习”用的检查器在 ``dlbasics.check`` 里，都由这里的 ``Checker``
做成：一组 ``Case``（输入、期望的结果、没通过时的提示），按顺序运行读者的
函数。读者的函数出了什么事都写成中文报告，而不是检查器自己的调用栈：

- 抛出异常：报告异常的类型、信息和读者代码里出错的那一行；
- 返回的类型、形状、dtype 不对，结果里有 nan 或 inf，数值不对；
- 改动了传入的张量；
- 超过时间限制还没有返回（例如死循环）：Unix 的主线程上用 ``SIGALRM``
  打断，其他情况用 ``sys.settrace`` 在读者代码的每一行检查时间。

报告的第一行以 ``PASS_MARK`` 或 ``FAIL_MARK`` 开头；构建时 ``_ext/quiz.py``
据此核对章节里参考解答的检查结果都是通过。
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

PASS_MARK = "✓ 检查通过"
FAIL_MARK = "✗ 检查没有通过"
TIME_LIMIT = 2.0  # 每个用例的时间上限（秒）


class TimeLimitExceeded(BaseException):
    """读者的函数超时。继承 BaseException：读者代码里的 ``except Exception``
    接不住它。"""


@dataclass(frozen=True)
class Problem:
    """一个用例没有通过的原因。``kind`` 是给测试用的英文类别
    （value、shape、dtype、type、nan、exception、timeout、mutated），
    ``text`` 是给读者看的中文说明，``got`` 是读者得到的结果的文字。"""

    kind: str
    text: str
    got: str = ""


Compare = Callable[[object, object, tuple], "Problem | None"]


@dataclass(frozen=True)
class Case:
    """一个用例。

    Args:
        key: 英文名（测试用）。
        title: 中文说明，报告里读者看到的就是它，如“很大的 logits”。
        make: 每次调用都新建输入（返回参数的元组），用例之间互不影响。
        want: 由输入算出期望的结果；为 None 时 ``compare`` 自己判断。
        hint: 没通过时给的提示：指向正确的思路，不给出答案。
        compare: ``compare(got, want, args)``，没问题时返回 None。
    """

    key: str
    title: str
    make: Callable[[], tuple]
    want: Callable[..., object] | None
    hint: str
    compare: Compare = field(default=None)  # type: ignore[assignment]


@dataclass(frozen=True)
class Mistake:
    """一个常见错误：``matches(got, want, args)`` 认出它时，报告给出它专门的
    提示（而不是用例的一般提示）。"""

    key: str
    matches: Callable[[object, object, tuple], bool]
    hint: str
    kinds: tuple[str, ...] = ("value",)  # 对哪几类问题去认它


@dataclass(frozen=True)
class Report:
    """一次检查的结果；``str(report)`` 是打印给读者的中文报告。"""

    checker: str
    total: int
    passed: bool
    lines: tuple[str, ...]
    case: str | None = None  # 没通过的用例的 key
    problem: Problem | None = None
    hint: str = ""
    mistake: str | None = None  # 认出的常见错误的 key

    def __str__(self) -> str:
        return "\n".join(self.lines)


# ---------- 显示与比较 ----------


def show(value: object, limit: int = 400) -> str:
    """值的简短文字：张量写出数值、形状与 dtype。"""
    if isinstance(value, dict):
        text = (
            "{"
            + ", ".join(f"{k!r}: {show(v, limit)}" for k, v in value.items())
            + "}"
        )
        return text if len(text) <= 3 * limit else text[: 3 * limit] + "..."
    if isinstance(value, tuple) and any(
        isinstance(v, torch.Tensor) for v in value
    ):
        text = "(" + "，".join(show(v, limit) for v in value) + ")"
        return text if len(text) <= 3 * limit else text[: 3 * limit] + "..."
    if isinstance(value, torch.Generator):
        return f"torch.Generator（种子 {value.initial_seed()}）"
    if isinstance(value, torch.Tensor):
        data = value.detach().cpu()
        if data.dtype == torch.bool:
            text = np.array2string(data.numpy(), threshold=24)
        elif data.is_floating_point():
            text = np.array2string(
                data.double().numpy(),
                precision=4,
                threshold=24,
                suppress_small=False,
                separator=", ",
            )
        else:
            text = np.array2string(data.numpy(), threshold=24, separator=", ")
        text = " ".join(text.split())
        shape = tuple(data.shape)
        text = f"tensor({text})，形状 {shape}，{str(data.dtype)[6:]}"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def type_name(value: object) -> str:
    if value is None:
        return "None（函数没有 return？）"
    return type(value).__name__


def tensor_problem(got: object, want: torch.Tensor) -> Problem | None:
    """类型、形状、dtype、nan/inf：值之前先查的几项。"""
    if not isinstance(got, torch.Tensor):
        return Problem(
            "type",
            f"应返回 torch.Tensor，返回的是 {type_name(got)}",
            show(got),
        )
    if tuple(got.shape) != tuple(want.shape):
        return Problem(
            "shape",
            f"形状应是 {tuple(want.shape)}，返回的形状是 {tuple(got.shape)}",
            show(got),
        )
    if got.dtype != want.dtype:
        return Problem(
            "dtype",
            f"dtype 应是 {str(want.dtype)[6:]}，返回的是 {str(got.dtype)[6:]}",
            show(got),
        )
    if got.is_floating_point() and not torch.isfinite(got).all():
        bad = "nan" if torch.isnan(got).any() else "inf"
        return Problem(
            "nan",
            f"结果里有 {bad}（期望的结果里没有）",
            show(got),
        )
    return None


def close(atol: float = 1e-5, rtol: float = 1e-4) -> Compare:
    """张量：类型、形状、dtype 都对，没有 nan，数值在误差之内。"""

    def compare(got, want, args) -> Problem | None:
        problem = tensor_problem(got, want)
        if problem is not None:
            return problem
        if not torch.allclose(got.detach(), want, atol=atol, rtol=rtol):
            error = (got.detach().double() - want.double()).abs().max()
            return Problem(
                "value",
                f"数值不对（与期望最多差 {error.item():.3g}）",
                show(got),
            )
        return None

    return compare


def number(atol: float = 1e-6, rtol: float = 1e-6) -> Compare:
    """一个数（Python 数或只有一个元素的张量）。"""

    def compare(got, want, args) -> Problem | None:
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, bool) or not isinstance(
            got, int | float | np.integer | np.floating
        ):
            return Problem(
                "type", f"应返回一个数，返回的是 {type_name(got)}", show(got)
            )
        if not math.isfinite(float(got)):
            return Problem("nan", f"结果是 {got}", show(got))
        if not math.isclose(
            float(got), float(want), rel_tol=rtol, abs_tol=atol
        ):
            return Problem("value", "数值不对", show(got))
        return None

    return compare


def exactly(got, want, args) -> Problem | None:
    """整数、元组等：必须完全相等（类型也要对：3.0 不算 3）。"""
    if isinstance(want, tuple) and isinstance(got, list):
        got = tuple(got)
    if isinstance(want, int) and isinstance(got, torch.Tensor):
        return Problem(
            "type", "应返回 Python 的 int（张量请用 .item() 取出）", show(got)
        )
    same_type = type(got) is type(want) or (
        isinstance(want, int) and isinstance(got, np.integer)
    )
    if isinstance(want, tuple) and isinstance(got, tuple):
        same_type = len(got) == len(want) and all(
            isinstance(g, int) and not isinstance(g, bool) for g in got
        )
        if not same_type:
            return Problem(
                "type",
                f"应返回 {len(want)} 个整数的元组，返回的是 {show(got)}"
                "（整数除法用 //）",
                show(got),
            )
    if not same_type:
        return Problem(
            "type",
            f"应返回 {type(want).__name__}，返回的是 {type_name(got)}",
            show(got),
        )
    if got != want:
        return Problem("value", "结果不对", show(got))
    return None


def tuple_of(*compares: Compare) -> Compare:
    """返回几个值的元组（如 ``(新参数, 新速度)``），逐项比较。"""

    def compare(got, want, args) -> Problem | None:
        if not isinstance(got, tuple | list) or len(got) != len(compares):
            return Problem(
                "type",
                f"应返回 {len(compares)} 个值的元组，返回的是 "
                f"{type_name(got)}"
                + (
                    f"（{len(got)} 个值）"
                    if isinstance(got, tuple | list)
                    else ""
                ),
                show(got),
            )
        for i, (item, expected, check) in enumerate(
            zip(got, want, compares, strict=True), 1
        ):
            problem = check(item, expected, args)
            if problem is not None:
                return Problem(
                    problem.kind,
                    f"返回的第 {i} 个值：{problem.text}",
                    show(got),
                )
        return None

    return compare


def dict_of(compare_one: Compare) -> Compare:
    """返回一个字典，键与期望的相同，每个值用 ``compare_one`` 比较。"""

    def compare(got, want, args) -> Problem | None:
        if not isinstance(got, dict):
            return Problem(
                "type", f"应返回字典，返回的是 {type_name(got)}", show(got)
            )
        if set(got) != set(want):
            return Problem(
                "type",
                f"字典的键应是 {sorted(want)}，返回的是 {sorted(got)}",
                show(got),
            )
        for key in want:
            problem = compare_one(got[key], want[key], args)
            if problem is not None:
                return Problem(
                    problem.kind, f"{key!r} 一项：{problem.text}", show(got)
                )
        return None

    return compare


# ---------- 运行读者的函数 ----------


def call_with_time_limit(fn: Callable, args: tuple, seconds: float):
    """调用 ``fn(*args)``，超过 ``seconds`` 秒抛出 ``TimeLimitExceeded``。"""
    if hasattr(signal, "setitimer") and (
        threading.current_thread() is threading.main_thread()
    ):

        def alarm(signum, frame):
            raise TimeLimitExceeded

        previous = signal.signal(signal.SIGALRM, alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return fn(*args)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    return call_with_trace_limit(fn, args, seconds)


def call_with_trace_limit(fn: Callable, args: tuple, seconds: float):
    """没有 ``SIGALRM`` 时（Windows、非主线程）：在读者代码的每一行检查时间。

    只能打断 Python 代码里的循环；一次很长的 torch 运算要等它算完。
    """
    deadline = time.monotonic() + seconds

    def tracer(frame, event, arg):
        if time.monotonic() > deadline:
            raise TimeLimitExceeded
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        return fn(*args)
    finally:
        sys.settrace(previous)


def where_it_failed(error: BaseException) -> str:
    """异常发生在读者代码的哪一行（跳过 torch 与本包内部）。"""
    frames = traceback.extract_tb(error.__traceback__)
    inside = ("/dlbasics/", "/site-packages/", "/torch/", "/lib/python")
    mine = [
        f
        for f in frames
        if not any(part in f.filename.replace("\\", "/") for part in inside)
    ]
    if not mine:
        return ""
    frame = mine[-1]
    line = (frame.line or "").strip()
    code = f"：{line}" if line else ""
    return f"（出错的是 {frame.name} 的第 {frame.lineno} 行{code}）"


def snapshot(args: tuple) -> list:
    return [
        a.detach().clone() if isinstance(a, torch.Tensor) else None
        for a in args
    ]


def mutated(args: tuple, before: list) -> int | None:
    """第几个参数（从 0 数）被原地改动了。"""
    for i, (arg, old) in enumerate(zip(args, before, strict=True)):
        if old is not None and not (
            arg.shape == old.shape and torch.equal(arg.detach(), old)
        ):
            return i
    return None


class Checker:
    """一个编程练习的检查器：``checker(my_fn)`` 打印中文报告。

    Args:
        name: 检查器的名字（``check.<name>``）。
        task: 一句话说明要写的函数，报告里用。
        arg_names: 参数名，报告里显示输入时用。
        cases: 用例，按顺序检查；前面的用例查基本的，后面的查边界情况。
        compare: 用例没有自己的比较方式时用它。
        mistakes: 认得出的常见错误，各有专门的提示。
    """

    def __init__(
        self,
        name: str,
        task: str,
        arg_names: Sequence[str],
        cases: Sequence[Case],
        compare: Compare | None = None,
        mistakes: Sequence[Mistake] = (),
    ) -> None:
        if not cases:
            raise ValueError("检查器至少要有一个用例")
        keys = [case.key for case in cases]
        if len(set(keys)) != len(keys):
            raise ValueError(f"用例的 key 重复了：{keys}")
        self.name = name
        self.task = task
        self.arg_names = tuple(arg_names)
        self.cases = tuple(cases)
        self.compare = compare or close()
        self.mistakes = tuple(mistakes)
        self.time_limit = TIME_LIMIT

    def __repr__(self) -> str:
        return f"<检查器 check.{self.name}：{self.task}>"

    def __call__(self, fn: Callable) -> None:
        """检查 ``fn`` 并打印报告（不返回值：单元格里不会多显示一行）。"""
        print(self.run(fn))

    def show_args(self, args: tuple) -> str:
        names = self.arg_names
        if len(names) != len(args):
            names = tuple(f"参数 {i + 1}" for i in range(len(args)))
        return "；".join(
            f"{name} = {show(arg, 200)}"
            for name, arg in zip(names, args, strict=True)
        )

    def run(self, fn: Callable) -> Report:
        """逐个用例运行 ``fn``，返回 ``Report``（不打印）。"""
        total = len(self.cases)
        if not callable(fn):
            text = (
                f"{FAIL_MARK}：要把你写的函数本身交给检查器，例如 "
                f"check.{self.name}(my_function)（不加括号），"
                f"收到的是 {show(fn, 80)}。"
            )
            problem = Problem("type", "传入的不是函数", show(fn))
            return Report(self.name, total, False, (text,), None, problem)
        for number, case in enumerate(self.cases, 1):
            problem, got, args = self.run_case(fn, case)
            if problem is not None:
                mistake = self.diagnose(problem, got, case, args)
                return self.failure(case, number, problem, mistake)
        titles = "；".join(case.title for case in self.cases)
        text = (
            f"{PASS_MARK}：{getattr(fn, '__name__', '你的函数')} "
            f"通过了全部 {total} 个用例（{titles}）。"
        )
        return Report(self.name, total, True, (text,))

    def run_case(self, fn: Callable, case: Case):
        """运行一个用例：返回 (问题或 None, 读者的结果, 用过的参数)。"""
        args = case.make()
        want = case.want(*case.make()) if case.want is not None else None
        before = snapshot(args)
        try:
            got = call_with_time_limit(fn, args, self.time_limit)
        except TimeLimitExceeded:
            return (
                Problem(
                    "timeout",
                    f"{self.time_limit:g} 秒内没有返回（是不是有死循环？）",
                    "（没有返回）",
                ),
                None,
                args,
            )
        except NotImplementedError:
            return (
                Problem(
                    "exception",
                    "函数还没有写：把 raise NotImplementedError 换成你的代码",
                    "NotImplementedError",
                ),
                None,
                args,
            )
        except Exception as error:  # 读者代码里的任何错误都写进报告
            message = str(error).strip().splitlines()
            first = message[0] if message else ""
            problem = Problem(
                "exception",
                f"函数抛出了 {type(error).__name__}：{first}"
                f"{where_it_failed(error)}",
                f"{type(error).__name__}",
            )
            return problem, None, args
        return self.judge(got, want, args, before, case), got, args

    def judge(self, got, want, args, before, case: Case) -> Problem | None:
        index = mutated(args, before)
        if index is not None:
            name = (
                self.arg_names[index]
                if index < len(self.arg_names)
                else f"第 {index + 1} 个参数"
            )
            return Problem(
                "mutated",
                f"函数原地改动了传入的 {name}：调用者的数据被改了。"
                "请新建张量（如 x = x - m，而不是 x -= m）",
                show(got),
            )
        compare = case.compare or self.compare
        try:
            return compare(got, want, args)
        except Exception as error:  # 比较时出错也算读者的结果有问题
            return Problem(
                "type",
                f"无法检查返回的结果（{type(error).__name__}：{error}）",
                show(got),
            )

    def diagnose(self, problem: Problem, got, case: Case, args):
        """认一认读者犯的是不是某个常见错误。"""
        want = case.want(*case.make()) if case.want is not None else None
        for mistake in self.mistakes:
            if problem.kind not in mistake.kinds:
                continue
            try:
                if mistake.matches(got, want, args):
                    return mistake
            except Exception:  # 认不出就算了：用用例的一般提示
                continue
        return None

    def failure(
        self,
        case: Case,
        number: int,
        problem: Problem,
        mistake: Mistake | None = None,
    ) -> Report:
        total = len(self.cases)
        args = case.make()
        lines = [
            f"{FAIL_MARK}：第 {number} 个用例（共 {total} 个）“{case.title}”"
            f"没有通过。",
            f"  输入：{self.show_args(args)}",
        ]
        if case.want is not None:
            lines.append(f"  期望：{show(case.want(*case.make()))}")
        if problem.got:
            lines.append(f"  得到：{problem.got}")
        lines.append(f"  问题：{problem.text}")
        hint = mistake.hint if mistake is not None else case.hint
        lines.append(f"  提示：{hint}")
        if number > 1:
            lines.append(f"  （前 {number - 1} 个用例已经通过。）")
        return Report(
            self.name,
            total,
            False,
            tuple(lines),
            case.key,
            problem,
            hint,
            mistake.key if mistake is not None else None,
        )
