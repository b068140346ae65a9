"""Heavy libraries are imported by the work that needs them, not by opening a crawl's stores."""

from __future__ import annotations

import subprocess
import sys

from rasd.core.lazy import lazy_module


def test_a_lazy_module_imports_on_first_attribute_read():
    mod = lazy_module("json")
    assert "not yet imported" in repr(mod)
    assert mod.dumps([1]) == "[1]"
    assert "(imported)" in repr(mod)


def test_opening_the_story_window_does_not_import_numpy_a_signature_does(tmp_path):
    """What an unchanged poll does with the story window (import the stage, open the index,
    look at it) leaves numpy unimported (0.1 CPU-s saved per such run); the first signature
    imports it.  (A new window computes its LSH banding once, with numpy, and stores it.)"""
    from rasd.pipelines.storyindex import StoryIndex

    StoryIndex(tmp_path / "stories.sqlite").close()
    code = f"""
import sys
import rasd.pipelines.stories, rasd.pipelines.redisstate
from rasd.pipelines.storyindex import StoryIndex, signature
index = StoryIndex({str(tmp_path / 'stories.sqlite')!r})
print(index.b, index.r, 'numpy' in sys.modules)
sig = signature('أعلنت وزارة الصحة في غزة اليوم عن ارتفاع عدد الضحايا في القطاع ' * 4)
print(len(sig), 'numpy' in sys.modules, int(sig.hashvalues.min()) < 2**32 - 1)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    first, second = out.stdout.split("\n")[:2]
    b, r, imported = first.split()
    assert int(b) * int(r) <= 128 and imported == "False"
    assert second == "128 True True"
