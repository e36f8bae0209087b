"""What a Rasa Pro project may use without defining it because Rasa ships it.

Rasa adds default responses (`utter_can_do_something_else`, `utter_flow_cancelled_rasa`, ...)
and default patterns to every project, so a project's own patterns name them without defining
them. botsvc gives its own stand-ins, worded here, for the responses, and for the one pattern a
flow links to that botsvc can honour: `pattern_human_handoff`, which hands over to a person.
The loader adds a default only where the project has no definition of that name, so a project
overriding a default is never a duplicate. The patterns the runtime starts by itself
(clarification, chit-chat, continue interrupted) are added too, and their texts use Jinja and the
pattern's `context` as Rasa's do.
"""

from __future__ import annotations

__all__ = ["BUILTIN_ACTIONS", "DEFAULTS", "DEFAULTS_FILE", "RUN_BUILTINS"]

DEFAULTS_FILE = "<botsvc defaults for Rasa projects>"

DEFAULTS = """\
responses:
  utter_ask_rephrase:
    - text: "Sorry, I didn't understand that. Could you say it another way?"
  utter_boolean_slot_rejection:
    - text: "Sorry, please answer yes or no."
  utter_can_do_something_else:
    - text: "Is there anything else I can help you with?"
  utter_cannot_handle:
    - text: "Sorry, that is not something I can help with."
  utter_categorical_slot_rejection:
    - text: "Sorry, that is not one of the options. Please pick one of them."
  utter_clarification_options_rasa:
    - text: "I can help, but I need a little more detail. Which of these would you like to do:
        {{ context.clarification_options }}?"
      metadata: {template: jinja}
  utter_corrected_previous_input:
    - text: "Okay, I have updated that."
  utter_float_slot_rejection:
    - text: "Sorry, that does not look like a number. Could you give me a number?"
  utter_flow_cancelled_rasa:
    - text: "Okay, I have stopped that."
  utter_flow_continue_interrupted:
    - text: "Let's get back to where we were."
  utter_free_chitchat_response:
    - text: "Sorry, I can't answer that right now."
  utter_human_handoff_not_available:
    - text: "I can't connect you with a person right now. Is there anything else I can do?"
  utter_inform_code_change:
    - text: "I have just been updated, so let's start again from the beginning."
  utter_internal_error_rasa:
    - text: "Sorry, something went wrong on my side. Please try again in a few minutes."
  utter_no_knowledge_base:
    - text: "Sorry, I don't know the answer to that."
  utter_skip_question_answer:
    - text: "I need an answer to this question before we can go on."
  utter_user_input_empty_error_rasa:
    - text: "Your message was empty. What can I help you with?"
  utter_user_input_too_long_error_rasa:
    - text: "Sorry, that message is too long for me. Could you make it shorter?"
  utter_ask_continue_interrupted_flow_confirmation:
    - text: "Would you like to continue with {{ context.interrupted_flow_options }}?"
      metadata: {template: jinja}
      buttons:
        - {title: "Yes", payload: "/SetSlots(continue_interrupted_flow_confirmation=True)"}
        - {title: "No", payload: "/SetSlots(continue_interrupted_flow_confirmation=False)"}
slots:
  continue_interrupted_flow_confirmation:
    type: bool
    mappings: [{type: from_llm}]
flows:
  pattern_chitchat:
    description: Answer small talk, then go on with what was going on.
    steps:
      - action: action_trigger_chitchat
  pattern_clarification:
    description: Offer the flows a message could mean, by name.
    steps:
      - action: action_clarify_flows
      - action: utter_clarification_options_rasa
  pattern_continue_interrupted:
    description: Ask whether to go back to the flow another one interrupted.
    steps:
      - collect: continue_interrupted_flow_confirmation
        next:
          - if: slots.continue_interrupted_flow_confirmation
            then:
              - action: action_continue_interrupted_flow
                next: END
          - else:
              - action: action_cancel_interrupted_flows
                next: END
  pattern_human_handoff:
    description: Hand the conversation to a person (botsvc's stand-in for Rasa's pattern).
    steps:
      - handoff: {reason: flow_handoff}
"""

# Actions Rasa runs itself, never the action server. botsvc runs them inside the flows runtime:
# those in RUN_BUILTINS do what Rasa's do (or what botsvc's runtime already does at that point,
# such as listening or running a slot's rejections); the others do nothing yet, with a warning.
BUILTIN_ACTIONS = frozenset(
    {
        "action_back",
        "action_block_digression",
        "action_cancel_flow",
        "action_cancel_interrupted_flows",
        "action_clarify_flows",
        "action_continue_interrupted_flow",
        "action_clean_stack",
        "action_continue_digression",
        "action_correct_flow_slot",
        "action_deactivate_loop",
        "action_default_ask_affirmation",
        "action_default_ask_rephrase",
        "action_default_fallback",
        "action_extract_slots",
        "action_hangup",
        "action_listen",
        "action_repeat_bot_messages",
        "action_reset_routing",
        "action_restart",
        "action_revert_fallback_events",
        "action_run_slot_rejections",
        "action_send_text",
        "action_session_start",
        "action_trigger_chitchat",
        "action_trigger_search",
        "action_two_stage_fallback",
        "action_unlikely_intent",
        "action_validate_slot_mappings",
    }
)
RUN_BUILTINS = frozenset(
    {
        "action_cancel_flow",  # the flow is cancelled before pattern_cancel_flow runs
        "action_clarify_flows",  # the candidates are in `context.names` before the pattern runs
        "action_cancel_interrupted_flows",
        "action_continue_interrupted_flow",  # the pattern ends and the flow below resumes
        "action_trigger_chitchat",  # says utter_free_chitchat_response
        "action_clean_stack",
        "action_correct_flow_slot",
        "action_deactivate_loop",
        "action_extract_slots",
        "action_listen",
        "action_reset_routing",
        "action_restart",
        "action_run_slot_rejections",
        "action_session_start",
        "action_validate_slot_mappings",
    }
)
