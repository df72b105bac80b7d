"""The owners' and analysts' workspace: the home page and one page per experiment."""
