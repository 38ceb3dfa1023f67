"""Development tools that need more than the run-time package (torch, spandrel): never imported by turbodraft."""
