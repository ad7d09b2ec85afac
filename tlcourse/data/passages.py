"""Short passages written for the course, with questions whose answer is one sentence of the
passage and, per passage, the sentence that best sums it up.

Notebook 04 uses them to measure two things the shipped MiniLM does offline: **answer retrieval**
(which sentence answers the question?) and **extractive summaries** (which sentence sums the
passage up?), each against a baseline that only counts words (TF-IDF) and, for summaries, the
first sentence. The questions were written the way a reader would ask them, some with the
answer's own words and some in other words; :func:`word_overlap` tells them apart mechanically,
so the comparison can be read for both kinds. Written for tlcourse (CC0); no answer depends on
facts beyond the passage.

Each passage: ``title``, ``sentences`` (the passage, one sentence per item), ``summary`` (the
index of the sentence that sums it up) and ``questions`` (``(question, index of the answer
sentence)``).
"""
from __future__ import annotations

import re

PASSAGES: list[dict] = [
    {"title": "The village bakery", "summary": 0, "sentences": [
        "The bakery on Mill Street has fed the village for over sixty years.",
        "Its ovens are lit at three in the morning, long before the first customer arrives.",
        "Rye loaves are the house speciality, baked from a sourdough started by the founder.",
        "On Sundays the shop closes at noon so the bakers can rest.",
        "Leftover bread is given to the shelter across the river every evening.",
    ], "questions": [
        ("When do the bakers start heating the ovens?", 1),
        ("What bread is the shop best known for?", 2),
        ("What happens to the bread that is not sold?", 4),
    ]},
    {"title": "Honeybees", "summary": 1, "sentences": [
        "A honeybee colony can hold tens of thousands of workers.",
        "Together they behave almost like a single organism that gathers food, builds and defends its home.",
        "A forager that finds flowers tells its sisters where they are with a waggle dance.",
        "The angle of the dance points the way relative to the sun.",
        "In winter the bees cluster together and shiver their muscles to stay warm.",
    ], "questions": [
        ("How does a bee share the location of food with the hive?", 2),
        ("How do bees survive the cold months?", 4),
        ("What does the direction of the dance indicate?", 3),
    ]},
    {"title": "The night train", "summary": 0, "sentences": [
        "The night train leaves the capital at ten and reaches the coast by breakfast.",
        "Passengers can book a seat, a couchette with six berths, or a private sleeper cabin.",
        "A dining car serves soup and sandwiches until midnight.",
        "Bicycles travel free in a special carriage at the back, but they must be booked in advance.",
        "Tickets are cheapest when bought two months before the journey.",
    ], "questions": [
        ("Can I take my bike on board?", 3),
        ("How far ahead should I buy to pay the least?", 4),
        ("Where can travellers get something to eat?", 2),
    ]},
    {"title": "Volcanoes", "summary": 0, "sentences": [
        "A volcano forms where molten rock from deep inside the earth reaches the surface.",
        "Below ground this rock is called magma; once it flows out it is called lava.",
        "Some volcanoes erupt gently, with rivers of lava that move slower than a walking person.",
        "Others explode violently because gas trapped in thick magma builds up enormous pressure.",
        "Ash from a large eruption can cool the whole planet for a year or more.",
    ], "questions": [
        ("What is the difference between magma and lava?", 1),
        ("Why do some eruptions blow up with great force?", 3),
        ("Can an eruption change the climate?", 4),
    ]},
    {"title": "Learning to ride a bicycle", "summary": 4, "sentences": [
        "Most children learn to ride between the ages of four and eight.",
        "Balance bikes without pedals let them practise steering and leaning first.",
        "Training wheels are popular, but they can teach a child to lean the wrong way in turns.",
        "A gentle slope of grass makes falls soft and gives speed without pedalling.",
        "Whatever the method, balance comes first and pedalling is easy to add afterwards.",
    ], "questions": [
        ("At what age do kids usually manage to cycle?", 0),
        ("What is the problem with stabilisers?", 2),
        ("Where is a good place to practise so that tumbles do not hurt?", 3),
    ]},
    {"title": "The city library", "summary": 0, "sentences": [
        "The city library lends far more than books.",
        "Members can borrow tools, board games, musical instruments and even fishing rods.",
        "A card is free for residents and takes five minutes to get with proof of address.",
        "Late returns are no longer fined, because fines kept poorer families away.",
        "The reading room stays open until nine on weekdays for students.",
    ], "questions": [
        ("Do I have to pay if I bring an item back late?", 3),
        ("What do I need to sign up?", 2),
        ("How late can students study there during the week?", 4),
    ]},
    {"title": "Coffee", "summary": 1, "sentences": [
        "Coffee beans are the seeds of a red fruit that grows on shrubs in the tropics.",
        "Before they can be brewed, the seeds are dried, roasted and ground.",
        "Light roasts keep more of the fruit's acidity, while dark roasts taste bitter and smoky.",
        "A cup of filter coffee holds roughly twice the caffeine of a cup of black tea.",
        "Grinding the beans just before brewing keeps the aroma that is lost within minutes.",
    ], "questions": [
        ("Why does a dark roast taste different from a light one?", 2),
        ("Which drink has more caffeine, coffee or tea?", 3),
        ("When is the best moment to grind?", 4),
    ]},
    {"title": "Rivers and floods", "summary": 4, "sentences": [
        "A river carries rain that fell over its whole basin towards the sea.",
        "After a storm, water from hillsides can take days to reach the towns downstream.",
        "Wetlands along the banks soak up water like a sponge and release it slowly.",
        "Straightened channels move water faster and can make floods downstream worse.",
        "Many countries now give rivers room to spread out again instead of building ever higher walls.",
    ], "questions": [
        ("Why are marshes next to a river useful?", 2),
        ("What is the risk of making a river's course straight?", 3),
        ("Why can a town flood several days after the rain stopped?", 1),
    ]},
    {"title": "Sleep", "summary": 0, "sentences": [
        "Sleep is when the brain sorts and stores what was learned during the day.",
        "Adults need about seven to nine hours a night, teenagers a little more.",
        "Screens in the evening delay sleep because their light tells the body it is still day.",
        "A short nap of twenty minutes refreshes without leaving you groggy.",
        "Keeping the same bedtime, even at weekends, makes falling asleep easier.",
    ], "questions": [
        ("Why should I avoid my phone before bed?", 2),
        ("How long should an afternoon rest be?", 3),
        ("How many hours does a grown-up need?", 1),
    ]},
    {"title": "Recycling glass", "summary": 0, "sentences": [
        "Glass can be melted and remade again and again without losing quality.",
        "Bottles are sorted by colour because clear glass must not be tinted by green or brown pieces.",
        "Crushed glass melts at a lower temperature than raw sand, which saves energy at the furnace.",
        "Window panes and drinking glasses melt differently and do not belong in the bottle bank.",
        "Lids and corks are removed by magnets and air jets at the sorting plant.",
    ], "questions": [
        ("Why are bottles separated into clear, green and brown?", 1),
        ("Can I put a broken window in the bottle bin?", 3),
        ("How does reusing glass cut fuel use?", 2),
    ]},
    {"title": "Chess openings", "summary": 0, "sentences": [
        "The first moves of a chess game aim to control the centre of the board.",
        "Knights and bishops should come out early, before the queen.",
        "Castling tucks the king into a corner and brings a rook into play.",
        "Moving the same piece twice in the opening usually wastes time.",
        "Beginners gain more from these principles than from memorising long sequences.",
    ], "questions": [
        ("How can I keep my king safe?", 2),
        ("Should I bring my queen out quickly?", 1),
        ("Is it worth learning long lines by heart when starting out?", 4),
    ]},
    {"title": "Tides", "summary": 0, "sentences": [
        "Tides are the slow rise and fall of the sea caused mostly by the pull of the moon.",
        "Most coasts see two high tides and two low tides a little more than a day apart.",
        "When the sun and moon line up, their pulls add and the tides are strongest.",
        "Some bays funnel the water so that it rises more than ten metres.",
        "Walkers crossing sand flats must check tide tables, because the water can return faster than they can run.",
    ], "questions": [
        ("Why are some tides bigger than others?", 2),
        ("How often does the water come in each day?", 1),
        ("Why is walking on the flats dangerous?", 4),
    ]},
]

STOPWORDS = frozenset("""a an and are as at be because by can do does for from has have how i if in
into is it its my of on or should so than that the their them they this to was what when where which
who why will with you your""".split())


def content_words(text: str) -> set[str]:
    """Lower-cased words of ``text`` without stop words, crudely stemmed (a plural ``s`` dropped)."""
    words = re.findall(r"[a-z]+", text.lower())
    return {w[:-1] if w.endswith("s") and len(w) > 3 else w for w in words if w not in STOPWORDS}


def word_overlap(question: str, sentence: str) -> int:
    """How many content words the question shares with the sentence."""
    return len(content_words(question) & content_words(sentence))


def qa_items() -> list[dict]:
    """Every question with its passage: ``passage``, ``question``, ``sentences``, ``answer``
    (index) and ``shares_words`` (whether the question uses a content word of its answer)."""
    items = []
    for passage in PASSAGES:
        for question, answer in passage["questions"]:
            items.append({"passage": passage["title"], "question": question, "sentences": passage["sentences"],
                          "answer": answer,
                          "shares_words": word_overlap(question, passage["sentences"][answer]) > 0})
    return items
