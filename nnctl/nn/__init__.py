"""The course's modular layer API: forward/backward pairs, losses, update rules, gradchecks.

Nothing here does I/O or touches NumPy's global random state.
"""
