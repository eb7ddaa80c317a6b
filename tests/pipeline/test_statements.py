"""Statement writer fluency fixes (docs/methods.md §3.1): the failure classes read in the 30-sentence table,
each question restated exactly, or refused (None) where no rule can restate it well; substitute shapes."""

from __future__ import annotations

import pytest

from pipeline.flips import spacy_tagger
from pipeline.statements import join_answer, join_suffix, rule_statement
from pipeline.synthetic import answer_shape, shape_fits, strip_possessive

TAG = spacy_tagger("en_core_web_sm")


def _say(question: str) -> str | None:
    out = rule_statement(question, TAG([question])[0])
    return None if out is None else out[1] + "ANS" + out[2]


@pytest.mark.parametrize(
    "question, text",
    [
        # question words left in (before: "New Rochelle in is ANS.")
        ("What present day county is New Rochelle in?", "New Rochelle is in ANS."),
        ("What is cpDNA's replication similar to?", "cpDNA's replication is similar to ANS."),
        # the wh-phrase is the subject of a passive/participle predicate (before: "Led by Hasan al-Hudaybi was ANS.")
        ("What organization was led by Hasan al-Hudaybi?", "ANS was led by Hasan al-Hudaybi."),
        (
            "What is used to figure the relative strengh of gravity?",
            "ANS is used to figure the relative strengh of gravity.",
        ),
        (
            "Who was given land by British goovernment for development of Ohio Country?",
            "ANS was given land by British goovernment for development of Ohio Country.",
        ),
        ("What is not considered appropriate disclipine?", "ANS is not considered appropriate disclipine."),
        # "there" leads the clause (before: "There a weakness in British supply chain was in ANS.")
        ("Where was there a weakness in British supply chain?", "There was a weakness in British supply chain in ANS."),
        (
            "Which century was there a program to straighten the Rhine?",
            "There was a program to straighten the Rhine in ANS.",
        ),
        # relative clauses kept whole (before: "The name of the law which is imposed ANS the speed limit.")
        (
            "What is the name of the law which imposed the speed limit?",
            "The name of the law which imposed the speed limit is ANS.",
        ),
        (
            "What was the first building erected that still forms part of the museum?",
            "The first building erected that still forms part of the museum was ANS.",
        ),
        (
            "What is the region called that is the largest conurbation of the Rhine?",
            "The region that is the largest conurbation of the Rhine is called ANS.",
        ),
        # an article before a name's possessive dropped (before: "The Alan Turing's …"); a doubled article made one
        (
            "In what year was the Alan Turing's definitional model of a computing device received?",
            "Alan Turing's definitional model of a computing device was received in ANS.",
        ),
        ("In which year was the The Forest tapestry created?", "The Forest tapestry was created in ANS."),
        # adverbs after the verb, stranded prepositions, particles, do-support base forms
        ("What are Ctenophora commonly known as?", "Ctenophora are commonly known as ANS."),
        ("What did the increase in skilled workers lead to?", "The increase in skilled workers led to ANS."),
        ("Where are teachers recruited from?", "Teachers are recruited from ANS."),
        ("From what pad was Apollo 5 launched from?", "Apollo 5 was launched from ANS."),
        ("When did Maududi found the Jamaat-e-Islami party?", "Maududi founded the Jamaat-e-Islami party in ANS."),
        ("What kind of force does not exist under Newton's third law?", "ANS does not exist under Newton's third law."),
        (
            "What did Edison offer Tesla after completing the project?",
            "Edison offered Tesla ANS after completing the project.",
        ),
        ("How much gun powder was destroyed in attack?", "ANS of gun powder was destroyed in attack."),
        ("How much money did the committee raise?", "The committee raised ANS."),
        # before: "believed ANS elements the … made up of"
        (
            "How many elements did Aristotle believe the terrestrial sphere to be made up of?",
            "Aristotle believed the terrestrial sphere to be made up of ANS elements.",
        ),
        ("What is the Bielany Forest the last remnant of?", "The Bielany Forest is the last remnant of ANS."),
        (
            "At which level of education is this sport becoming more popular?",
            "This sport is becoming more popular at ANS.",
        ),
        (
            "What did the Italian government fail to do in Francovich v Italy?",
            "The Italian government failed to do ANS in Francovich v Italy.",
        ),
        (
            "What century did the Normans first gain their separate identity?",
            "The Normans first gained their separate identity in ANS.",
        ),
        # the negation attack's questions: "not" before an adjective of the subject is not a negated verb
        (
            "When did not British government give land for development of Ohio Country?",
            "Not British government gave land for development of Ohio Country in ANS.",
        ),
        (
            "What did not Protestant nobles form the following year?",
            "Not Protestant nobles formed ANS the following year.",
        ),
        ("What are apicoplasts missing?", "Apicoplasts are missing ANS."),
        ("Whose theory was the theory of continental drift?", "The theory of continental drift was ANS's."),
        ("How many children did Luther and his wife have?", "Luther and his wife had ANS children."),
        # before (wh_modal): "ANS would step down …"
        (
            "Who announced she would step down as leader of the Conservatives?",
            "ANS announced she would step down as leader of the Conservatives.",
        ),
        # "when" inside is English
        ("What gained ground when Arab nationalism suffered?", "ANS gained ground when Arab nationalism suffered."),
        (
            "What is the name of the residential treatment program the university runs?",
            "The name of the residential treatment program the university runs is ANS.",
        ),  # a zero relative clause
    ],
)
def test_fixed_failure_classes(question, text):
    assert _say(question) == text


@pytest.mark.parametrize(
    "question",
    [
        "What was Tesla afraid someone was trying to do with his invention?",  # the gap is inside a clause
        "What is the United States at risk for because of the recession of 2008?",  # stranded "for because of"
        "What are EU Regulations essentially the same as in the case mentioned?",  # no place for the answer
        "What country was Abhisit Vejjajiva prime minister of, despite having been born in Newcastle?",
        "From what project did the Apollo 11 crew consist entirely of?",  # two different prepositions
        "What is seeing the Holy Bible as the primary authority in the Church?",
        "Where was Ralph earl of?",  # before: "Ralph earl was of ANS."
        "During what period did the Tower Theatre re-open?",  # before: "re --edopen"
        "Where did Moncalm slip away to attack, left largely unprotected?",
        "Where are the streams the Rhine captured?",  # before: "The streams the Rhine are captured in ANS."
        "When did Costa v ENEL take place?",  # before: "Costa vved ENEL take place"
    ],
)
def test_questions_no_rule_restates_well_give_none(question):
    assert _say(question) is None


def test_join_answer_fits_preposition_and_capital():
    # the negation attack's fake "In 2001" (gold "In 1998") brings its own preposition
    assert join_answer("The company was founded in ", "In 2001") == ("The company was founded ", "in 2001")
    assert join_answer("The war began in ", "4 July 1990") == ("The war began on ", "4 July 1990")
    assert join_answer("The war began in ", "July 1990") == ("The war began in ", "July 1990")
    assert join_answer("", "the Brotherhood") == ("", "The Brotherhood")
    assert join_answer("These rebellions took place in ", "2000 to 2007") == (
        "These rebellions took place from ",
        "2000 to 2007",
    )
    assert join_suffix("Tiffany & Co.", ".") == "" and join_suffix("Paris", ".") == "."  # seen: "is Tiffany & Co.."


@pytest.mark.parametrize(
    "gold, cand, label, fits",
    [
        ("July 1977", "eleven-year", "DATE", False),  # seen: "overthrown … in eleven-year"
        ("July 1977", "1979", "DATE", True),  # both carry a year
        ("1288", "the 19th century", "DATE", False),
        ("four", "1277–1347", "CARDINAL", False),  # seen: "1277–1347 schools of medicine"
        ("four", "twelve", "CARDINAL", True),
        ("45", "twelve", "CARDINAL", False),  # digits vs words
        ("45,000 pounds", "700 megawatt", "QUANTITY", False),  # seen: "700 megawatt gun powder" (weight vs power)
        ("45,000 pounds", "3 tons", "QUANTITY", True),
        ("$5 million", "£20", "MONEY", False),
        ("Paris", "Berlin", "GPE", True),  # no shape constraint outside numeric labels
    ],
)
def test_substitute_shape(gold, cand, label, fits):
    assert shape_fits(gold, cand, label) is fits


def test_shape_classes_and_possessive():
    assert answer_shape("October 1973", "DATE") == ("year", True, False)  # (kind, digits, range)
    assert answer_shape("the previous year", "DATE") == ("other", False, False)
    assert answer_shape("1294 to 1307", "DATE") == ("year", True, True)
    # CARDINAL: (digits, range, decimal, a non-number word, is one, a bare magnitude)
    assert answer_shape("8.8 lb", "CARDINAL") == (
        True,
        False,
        True,
        True,
        False,
        False,
    )  # seen: "8.8 lb cylinders" for "5"
    assert not shape_fits("5", "8.8 lb", "CARDINAL")
    assert not shape_fits("five", "One", "CARDINAL")  # seen: "One rival princes were involved"
    assert not shape_fits("five", "Almost a million", "CARDINAL")  # a magnitude word
    assert not shape_fits("four", "Approximately one million", "CARDINAL")  # seen: "… one million schools of medicine"
    assert not shape_fits("approximately 1015 kelvins", "over 100", "CARDINAL")  # a unit vs none; "over" is no unit
    assert shape_fits("about 300", "more than 200,000", "CARDINAL")
    assert shape_fits("John Myhill's", "Raymond Smullyan", "PERSON")
    assert answer_shape("Paris", "GPE") is None
    assert strip_possessive("Raymond Smullyan's", "John Myhill") == "Raymond Smullyan"  # seen: "Smullyan's provided"
    assert strip_possessive("Raymond Smullyan's", "Turing's") == "Raymond Smullyan's"
    assert strip_possessive("the Huguenots'", "Paris") == "the Huguenots"
