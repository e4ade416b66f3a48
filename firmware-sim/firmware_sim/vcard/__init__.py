"""A virtual contactless card for pcscd's vpcd reader driver."""
