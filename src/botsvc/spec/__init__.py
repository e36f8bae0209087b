"""What ops write in flows/*.yml, loaded, checked and frozen. Nothing here runs a conversation.

loader.py      load_flow_spec / load_flow_documents: the files → one checked, frozen FlowSpec
yamlio.py      reading YAML with line numbers; pydantic errors as Problem(file, line)
schema.py      the files' shape as pydantic models (used by the loader only)
sections.py    slots, responses, actions and escalation of one file
flowbuild.py   one flow's YAML → a frozen Flow (step ids, branches, reachability)
checks.py      cross-references over the whole project (slots, responses, flows, intents)
model.py       FlowSpec, SlotSpec, EscalationRules: the frozen result
steps.py       one small frozen class per step type
variants.py    response variants as written
conditions.py  the safe condition language (`slots.x matches "..." and not ...`)
rasa_layout.py a Rasa Pro folder (domain, data/, endpoints.yml, docs/) as the loaders' documents
rasa_defaults.py  botsvc's stand-ins for the responses and patterns Rasa ships, Rasa's built-ins
"""
