"""Named rule sets: which plugins make up an evaluation, and how results are graded."""
