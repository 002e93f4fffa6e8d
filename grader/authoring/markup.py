"""Markup of a reference answer as the builder reads it: the text a claim is cut from (tags,
bold, formulas), separators, decoration and lead-ins, and formulas kept whole.

Part of the rubric builder (`grader.authoring.build`).
"""

from __future__ import annotations

import re

from ..text import CJK_RE, claim_length, normalize


_SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", ". ", "! ", "? ", "; ", "，", "、", ", ", "：", ": ", " ", ""]


_SENTENCE_SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", ". ", "! ", "? ", "; ", "，", ", ", " ", ""]


_EN_TERM = re.compile(r"[a-z][a-z0-9+#.'-]*[a-z0-9+#]|[a-z]|\b[a-z]?\d+[a-z0-9()^*/.]*")


ZH_STOPWORDS = frozenset(
    """的 了 是 在 和 与 及 或 等 这 那 其 之 为 将 把 被 对 从 到 也 都 而 就 个 中 有 所以 可以 因为 如果 需要 进行
    一个 一种 这个 那个 这样 通过 使用 以及 并且 或者 还是 但是 然而 因此 由于 对于 关于 其中 什么 如何 怎么 为什么
    就是 只是 还有 可能 能够 已经 非常 比较 更加 一些 一般 时候 时 后 前 上 下 内 外 不 没有 会 能 要 让 使 得 着 过
    它 它们 我们 他们 你 我 他 她 该 此 每 各 某 本 即 则 若 但 且 并 又 再 已 很 最 更 较 所 以 于 之后 之前 方面
    这些 那些 这种 那种 这是 使得 具有 相比 相比于 所有 整个 同时 直接 当前 例如 比如 称为 同样 本身 然后 之间
    一样 大大 通常 主要 不会 不同 变得 实现 方式 方法 问题 情况 时候 部分 作为 导致 目前 可能会 一次 每个""".split()
)


# Bold leads that only announce what follows ("原理：", "优点：").
_GENERIC_LABELS = frozenset(
    """原理 工作原理 优点 缺点 优势 劣势 定义 结构 核心作用 作用 适用场景 场景 具体任务 任务 原因 简介 说明 特点 特性
    问题 解决方案 方案 总结 总结对比 结论 创新 核心价值 核心区别 核心机制 机制 关键特性 介绍 例子 举例 示例 应用
    应用模型 应用代表 效果 主要用途 用途 理论基础 硬件层面 软件层面 为什么选用它 最擅长的任务类型 核心定位 核心思想
    对比 区别 共同之处 不同之处 概念 含义 目的 思路 步骤 流程 方法""".split()
)


_DECORATION = re.compile(r"^\s*(?:[*\-]\s*)?(?:思考方式|思考方向|思考角度|介绍分几点|答题思路|回答思路|大白话)")


_LEADIN_END = re.compile(r"[:：]\s*$")


_TAG = re.compile(r"</?[a-zA-Z][^<>]{0,200}>")


_STRONG = re.compile(r"<(strong|b)>(.*?)</\1>|\*\*(.+?)\*\*", re.DOTALL)


_MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]{1,200}\$", re.DOTALL)


_CODE = re.compile(r"`([^`\n]{1,80})`")


def _splitter(separators: list[str], size: int, length=len):
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(
        separators=separators, chunk_size=size, chunk_overlap=0, keep_separator="end", strip_whitespace=True,
        length_function=length,
    )


_FORMULA_RUN = re.compile(r"[a-z0-9()^+\-/=.]{3,}")


_FORMULA_OP = re.compile(r"[a-z0-9)][+\-/^=][a-z0-9(]|[a-z]\(")


def formulas(norm: str) -> list[str]:
    """Formulas and values of normalised text: "n/2", "(2n+1)/3", "2^(n-1)", "o(1)"."""
    out = []
    for m in _FORMULA_RUN.finditer(norm):
        f = m.group().strip(".-=")
        while f.count("(") != f.count(")") and f[:1] in "()" or f[-1:] == "(":
            f = f[1:] if f[:1] == "(" and f.count("(") > f.count(")") else f[:-1] if f[-1:] in "()" else f[1:]
        if len(f) >= 3 and f.count("(") == f.count(")") and _FORMULA_OP.search(f) and re.search(r"\d|\(", f):
            if not re.fullmatch(r"[a-z]{2,}[a-z-]*", f):
                out.append(f)
    return out


def plain(text: str) -> str:
    """Readable text of a span: tags and markdown emphasis removed, whitespace collapsed."""
    s = _TAG.sub("", text)
    s = re.sub(r"\*\*(.+?)\*\*", r"\1", s)
    s = re.sub(r"^\s*(?:[*\-+]|\d{1,2}[.)、]|[a-z][.)])\s+", "", s, flags=re.M)
    s = re.sub(r"\s+", " ", s).strip()
    return s


def slug(text: str, limit: int = 24) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", normalize(text).encode("ascii", "ignore").decode()).strip("-")
    return s[:limit].strip("-")
