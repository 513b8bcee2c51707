"""The op library: each module groups related ``Function`` subclasses and their wrappers."""
