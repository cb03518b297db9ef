"""The embedded local runtime: the same template, ASL and handlers on one machine, no AWS account.

Nothing in the domain, services or handlers imports this package.
"""
