"""The history of each contact: what changed, who changed it, when."""
