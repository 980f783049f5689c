"""Course plumbing: what the notebooks need around the lesson, not the lesson itself."""
