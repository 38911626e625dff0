"""Synthetic instructions for the benchmarks (the filter bench, the instant teacher), shaped like a
Self-Instruct/Alpaca set: mostly distinct tasks (52K kept is what those datasets are), with near
duplicates planted the way a teacher makes them.

Each instruction is an optional lead-in + a task template + an optional tail, its slots filled from
word lists (a topic alone has ~30,000 fillings), over 30 task families. 15% of the items re-state an
earlier item: the same slots through another template of its family (a paraphrase: the embedding
filter should catch it; ROUGE-L often does not), or the same template with another tail (an edit:
both catch it). Templates are short next to their slots, so two items of one family with different
fillings are different tasks, as they are in real data.
"""

from __future__ import annotations

import random

FAMILIES = [
    ["Write a {form} about {topic}.", "Compose a {form} on {topic}.", "Can you write me a {form} about {topic}?"],
    ["Explain {topic} to a {aud}.", "Describe {topic} in simple terms for a {aud}."],
    ["Give {k} tips for {act}.", "List {k} pieces of advice on {act}."],
    ["What are the pros and cons of {topic}?", "Summarize the arguments for and against {topic}."],
    ["Translate this sentence about {topic} into {lang}.", "Render the sentence on {topic} in {lang}."],
    ["Classify this {thing} about {topic} as {a} or {b}.", "Is the given {thing} on {topic} {a} or {b}?"],
    ["Plan a {k}-day schedule for {act} in {place}.", "Make a {k} day plan to practise {act} around {place}."],
    [
        "Write a dialogue between a {aud} and a {role} about {topic}.",
        "Create a conversation in which a {role} talks with a {aud} about {topic}.",
    ],
    ["Suggest a name for a {adj} {shop} in {place}.", "Come up with a catchy name for a {adj} {shop} near {place}."],
    ["Find the mistake in this sentence about {topic}.", "Proofread the following sentence on {topic}."],
    ["How did {topic} change {topic2}?", "Describe the effect of {topic} on {topic2}."],
    ["Compare {topic} with {topic2}.", "What are the differences between {topic} and {topic2}?"],
    [
        "Write {k} interview questions for a {role} who works on {topic}.",
        "Prepare {k} questions to ask a {role} about {topic}.",
    ],
    [
        "Draft an email to a {role} asking about {topic}.",
        "Write a short message to a {role} with a question on {topic}.",
    ],
    ["Create a quiz with {k} questions on {topic}.", "Make a {k}-question test about {topic}."],
    ["Give a real-world example of {topic}.", "Name one everyday case of {topic}."],
    ["Write a product description for a {adj} {obj}.", "Describe a {adj} {obj} for an online shop."],
    ["Outline a lesson on {topic} for a {aud}.", "Plan a class about {topic} for a {aud}."],
    ["Predict how {topic} will look in {year}.", "What will {topic} be like by {year}?"],
    ["Argue that {topic} matters more than {topic2}.", "Make the case for {topic} over {topic2}."],
    ["Sort these {k} {obj}s by price.", "Order the {k} given {obj}s from cheapest to most expensive."],
    ["Rewrite the paragraph on {topic} in a {tone} tone.", "Make this text about {topic} sound {tone}."],
    ["Tell a joke about a {role} and a {obj}.", "Come up with a funny line involving a {role} and a {obj}."],
    ["Design an experiment to test {topic}.", "How would you measure {topic} in a study?"],
    ["Recommend {k} books about {topic} for a {aud}.", "Which {k} books on {topic} suit a {aud}?"],
    ["Estimate the cost of {act} in {place}.", "How much does {act} cost around {place}?"],
    ["Write a {form} from the point of view of a {obj}.", "Compose a {form} narrated by a {obj}."],
    ["List the steps to repair a {adj} {obj}.", "How do I fix a broken {adj} {obj}?"],
    ["Turn the notes on {topic} into a headline.", "Write a headline for a story about {topic}."],
    ["Answer as a {role}: is {topic} safe for a {aud}?", "Would a {role} say {topic} is safe for a {aud}?"],
]
LEAD = [
    "",
    "",
    "",
    "",
    "For a school project: ",
    "Imagine you are a {role}. ",
    "As a {role}, please: ",
    "In {place}: ",
    "Quick question. ",
    "My {aud} asked me this. ",
    "Help me out. ",
]
TAIL = [
    "",
    "",
    "",
    "",
    " Keep it short.",
    " Use simple words.",
    " Include one example from {place}.",
    " Limit the answer to {k} sentences.",
    " Mention {topic2}.",
    " Answer in {lang}.",
    " Be specific.",
    " Use a {tone} tone.",
    " Write it for a {aud}.",
]
WORDS = {
    k: v.split("|")
    for k, v in dict(
        form="poem|haiku|limerick|essay|tweet|speech|letter|song|fable|riddle|slogan|review|short story|"
        "blog post|sonnet",
        aud="child|teenager|beginner|expert|grandparent|student|tourist|manager|new employee|ten-year-old|farmer|nurse",
        k="three|four|five|six|seven|ten|two|eight",
        act=(
            "cooking|running|saving money|learning Spanish|public speaking|gardening|chess|studying for exams|"
            "sleeping better|writing emails|negotiating a salary|painting with watercolours|training a puppy|"
            "hiking in winter|job interviews|meditation|time management|coding in Python|baking bread|swimming|"
            "moving house|starting a podcast|learning guitar|fixing a bike|planning a wedding|camping|birdwatching"
        ),
        lang="French|German|Spanish|Italian|Japanese|Portuguese|Dutch|Korean|Polish|Turkish|Swahili|Hindi",
        thing="review|email|tweet|headline|sentence|comment|post|complaint|ad",
        a="positive|formal|spam|urgent|factual|sarcastic",
        b="negative|informal|not spam|routine|opinion|sincere",
        role="doctor|teacher|chef|pilot|lawyer|farmer|scientist|nurse|mechanic|judge|architect|banker|coach|poet",
        adj="cosy|modern|vegan|family-run|tiny|luxury|retro|eco-friendly|late-night|seaside|cheap|foldable|smart",
        shop="bakery|bookshop|cafe|gym|bike shop|florist|bar|tea room|toy store|barber|pet shop|laundry",
        obj="kettle|bicycle|umbrella|backpack|lamp|laptop|sofa|camera|watch|drone|guitar|tent|blender|phone",
        place=(
            "Lisbon|Nairobi|Osaka|a small village|the Alps|Chicago|a desert town|Buenos Aires|Oslo|a space "
            "station|the Amazon|Cairo|a coastal city|Melbourne|a mountain hut|Hanoi|Toronto|a farm"
        ),
        tone="friendly|formal|funny|angry|calm|excited|neutral|poetic",
        year="2030|2040|2050|2100|ten years|the next decade",
    ).items()
}
ADJ = (
    "ancient modern urban rural digital renewable quantum medieval tropical arctic financial political "
    "social personal global local electric solar marine industrial organic microbial volcanic coastal "
    "nuclear mobile remote public private early late wild domestic northern southern"
).split()
NOUN = (
    "energy forests cities oceans volcanoes bees memory trade music empires storms bridges vaccines rivers "
    "deserts robots markets languages farming elections reefs satellites glaciers railways bacteria "
    "sleep friendship architecture photography taxes chocolate coffee tea rice wheat whales wolves "
    "batteries privacy education migration tourism sport fashion cinema theatre poetry gravity light "
    "banking healthcare housing transport software history religion art weather soil insects birds"
).split()
TOPIC = [
    "{a} {n}",
    "{a} {n}",
    "the history of {a} {n}",
    "{a} {n} in {p}",
    "the future of {a} {n}",
    "{n} and {n2}",
    "the rise of {a} {n}",
]


def _topic(rng: random.Random) -> str:
    return rng.choice(TOPIC).format(
        a=rng.choice(ADJ), n=rng.choice(NOUN), n2=rng.choice(NOUN), p=rng.choice(WORDS["place"])
    )


def new_item(rng: random.Random) -> tuple:
    """One fresh task: (family, template, lead, tail, slot fillings)."""
    fill = {k: rng.choice(v) for k, v in WORDS.items()}
    fill |= {"topic": _topic(rng), "topic2": _topic(rng)}
    fam = rng.randrange(len(FAMILIES))
    return fam, rng.randrange(len(FAMILIES[fam])), rng.randrange(len(LEAD)), rng.randrange(len(TAIL)), fill


def restate(item: tuple, rng: random.Random) -> tuple:
    """The same task said again: another template of its family (a paraphrase) or another tail (an edit)."""
    fam, tpl, lead, tail, fill = item
    if len(FAMILIES[fam]) > 1 and rng.random() < 0.6:
        tpl = rng.choice([t for t in range(len(FAMILIES[fam])) if t != tpl])
    else:
        tail = rng.choice([t for t in range(len(TAIL)) if t != tail])
    return fam, tpl, lead, tail, fill


def render_item(item: tuple) -> str:
    fam, tpl, lead, tail, fill = item
    return (LEAD[lead] + FAMILIES[fam][tpl] + TAIL[tail]).format(**fill)


def synth_instructions(n: int, seed: int = 0, dup_share: float = 0.15) -> list[str]:
    rng = random.Random(seed)
    items: list[tuple] = []
    for _ in range(n):
        items.append(restate(rng.choice(items), rng) if items and rng.random() < dup_share else new_item(rng))
    return [render_item(it) for it in items]
