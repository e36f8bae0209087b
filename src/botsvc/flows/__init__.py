"""The flows runtime: what one message does to the conversation's flows. Nothing here is loaded
from YAML; it runs the frozen `FlowSpec` that `botsvc.spec` built.

engine.py      FlowEngine.handle: reads one message against the dialogue stack, a FlowResult out
run.py         FlowRun: carries out steps on a private copy of the dialogue state
slotfill.py    reading a slot's value from entities or the customer's whole answer
responses.py   rendering responses (variant by tone, {slot} templating, buttons)
actions.py     ActionClient: the rasa-sdk action server protocol
"""
