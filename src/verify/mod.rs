//! Cross-checks against other runtimes (tract).
