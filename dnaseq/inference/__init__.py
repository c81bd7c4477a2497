"""Applying trained models: strand handling, the one Lightning inference path, and the
prediction steps every command shares."""
