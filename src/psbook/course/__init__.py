"""The course module: self-checks for the exercises (``psbook.course.checks``) and the
generator of student and solution notebooks (``python -m psbook.course build``).

Exercises live in the chapter sources, the one place they are written (CONTRIBUTING.md,
"Checkable exercises").
"""
