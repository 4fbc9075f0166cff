"""Views: the window's panels, one per module."""
