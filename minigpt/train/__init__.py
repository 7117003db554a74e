"""Training: a small, honest trainer, named recipes, DDP through torchrun."""
