"""Boundary cases for the intent classifier: (message, expected intent).

Phrasings of the boundaries the taxonomy cares about, written separately from bot/nlu/data/intents.yaml; a few
canonical one-liners ("hi", "thanks", "operator", "tell me a joke") necessarily also occur there.
"""

BOUNDARY_CASES: list[tuple[str, str]] = [
    # cancel_order vs return_refund vs order_status
    ("please cancel the order I made an hour ago", "cancel_order"),
    ("i'd like to cancel my return, I'm keeping the jacket", "return_refund"),
    ("can you just kill my subscription", "cancel_order"),
    ("nuke my monthly coffee subscription please", "cancel_order"),
    ("I want my money back for the toaster", "return_refund"),
    ("how do I send the shoes back?", "return_refund"),
    # billing vs return_refund
    ("you charged me twice for the same blender", "billing"),
    ("there's a charge on my credit card I don't recognise", "billing"),
    ("my card keeps getting declined when I pay", "billing"),
    # damaged_item
    ("my package arrived and the lamp inside is broken", "damaged_item"),
    ("the mirror came cracked", "damaged_item"),
    ("the headphones stopped working after three days", "damaged_item"),
    # shipping_info vs order_status
    ("how long does shipping usually take", "shipping_info"),
    ("do you ship to canada?", "shipping_info"),
    ("what does delivery to ireland cost", "shipping_info"),
    ("where is my package? it hasn't arrived", "order_status"),
    ("has order A10234 shipped yet?", "order_status"),
    ("order #55120 still says processing, any update", "order_status"),
    # password_reset vs account_update
    ("I can't log into my account", "password_reset"),
    ("i forgot my password, help", "password_reset"),
    ("please change the email on my account", "account_update"),
    ("I moved, update my address please", "account_update"),
    ("my phone number changed, can you update it", "account_update"),
    # product_question
    ("is the blender dishwasher safe?", "product_question"),
    ("do you have the hoodie in blue", "product_question"),
    ("does this charger work with an iphone", "product_question"),
    # complaint
    ("this is the worst service I have ever had", "complaint"),
    ("I'm really disappointed with how this was handled", "complaint"),
    ("this is completely unacceptable", "complaint"),
    # human_request, several languages
    ("let me talk to a real person", "human_request"),
    ("get me a supervisor", "human_request"),
    ("can I speak to a representative please", "human_request"),
    ("operator", "human_request"),
    ("Ich möchte bitte mit einem Menschen sprechen", "human_request"),
    ("Je veux parler à un conseiller s'il vous plaît", "human_request"),
    ("Quiero hablar con un agente, por favor", "human_request"),
    ("Vorrei parlare con una persona", "human_request"),
    ("Quero falar com um atendente humano", "human_request"),
    ("Ik wil graag met een medewerker praten", "human_request"),
    # greeting / goodbye / thanks
    ("hi", "greeting"),
    ("hello there", "greeting"),
    ("good morning!", "greeting"),
    ("bye", "goodbye"),
    ("that's all, goodbye", "goodbye"),
    ("thanks", "thanks"),
    ("cheers!", "thanks"),
    ("perfect, thank you", "thanks"),
    # out_of_scope, including retail-adjacent ones
    ("what's the weather like tomorrow", "out_of_scope"),
    ("write me a poem about autumn", "out_of_scope"),
    ("who won the game yesterday", "out_of_scope"),
    ("can you help me with my taxes", "out_of_scope"),
    ("what is the balance of my bank account", "out_of_scope"),
    ("tell me a joke", "out_of_scope"),
]
