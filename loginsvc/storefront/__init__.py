"""On the storefront (CONTRACT §10): the account widget and the newsletter sign-up."""
