"""Deployment tooling: Terraform lives beside this package; packaging is infra/package.py."""
