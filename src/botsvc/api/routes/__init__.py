"""The routes, one module per audience: customers' sites, the helpdesk, and operators."""
