"""btrfs storage setup for Docker."""
