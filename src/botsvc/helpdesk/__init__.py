"""The helpdesk side of a conversation: everything after the bot hands over.

agents.py     agent replies and resolve (the bot takes the conversation back)
handoffs.py   the `handoff.created` payload: transcript, summary, the customer's other conversations
payloads.py   the webhook bodies and their JSON Schema (the published contract)
delivery.py   the outbox dispatcher: signed webhooks, at least once, with backoff
hours.py      business hours
"""
