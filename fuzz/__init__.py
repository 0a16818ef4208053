"""Coverage-guided fuzzing (atheris) of kneerules' untrusted-input paths; see run.py."""
