"""grader: grade written answers against key-point rubrics (keyword, fuzzy or an LLM judge).

    from grader import Grader
    result = Grader().grade("3", "RoPE 通过旋转 Q 和 K 注入位置信息 ...")
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["Grader", "GradeResult", "Settings", "__version__"]


def __getattr__(name: str):
    # Lazy, so `import grader` stays cheap and never imports openai.
    if name == "Grader":
        from .pipeline import Grader

        return Grader
    if name == "GradeResult":
        from .models import GradeResult

        return GradeResult
    if name == "Settings":
        from .settings import Settings

        return Settings
    raise AttributeError(name)
