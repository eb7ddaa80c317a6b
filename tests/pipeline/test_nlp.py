"""IndexConfig validation, model resolution and the pipes `load_nlp` keeps."""

from __future__ import annotations

import re

import pytest

from pipeline.nlp import IndexConfig, ModelNotFoundError, index_key, load_nlp, model_info, resolve_package


def _model_or_skip() -> str:
    try:
        return resolve_package("en_core_web_sm")
    except ModelNotFoundError as e:
        pytest.skip(str(e))


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"n_process": -1}, "n_process"),
        ({"sentences": "regex"}, "sentences"),
        ({"model": ""}, "model"),
        ({"model": "a/b"}, "model"),
        ({"batch_size": True}, "batch_size"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"chunk_size": 2.5}, "chunk_size"),
    ],
)
def test_bad_config_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=f"IndexConfig.{field}"):
        IndexConfig(**kwargs)


def test_key_depends_on_output_settings_only():
    base = IndexConfig()
    assert re.fullmatch(r"en_core_web_sm-3\.8\.0-[0-9a-f]{8}", base.key("3.8.0"))
    assert IndexConfig(batch_size=8, n_process=2).key("3.8.0") == base.key("3.8.0")
    assert IndexConfig(chunk_size=7).key("3.8.0") == base.key("3.8.0")  # chunks change speed, not rows
    assert IndexConfig(sentences="parser").key("3.8.0") != base.key("3.8.0")
    assert base.key("3.8.1") != base.key("3.8.0")


def test_chunks_are_rounded_up_to_whole_batches():
    # ceil(chunk_size / batch_size) * batch_size: 256/64 -> 4 batches = 256; 100/64 -> 2 batches = 128; 1/64 -> 64
    assert IndexConfig().contexts_per_chunk() == 256
    assert IndexConfig(chunk_size=100).contexts_per_chunk() == 128
    assert IndexConfig(chunk_size=1).contexts_per_chunk() == 64
    assert IndexConfig(chunk_size=5, batch_size=1).contexts_per_chunk() == 5


def test_unknown_model_fails_naming_model_and_accepted_names():
    with pytest.raises(ModelNotFoundError, match=r"'xx_no_such_model'.*accepted names.*en_core_web_sm"):
        index_key(IndexConfig(model="xx_no_such_model"))


def test_alias_resolves_to_installed_package_with_version():
    package = _model_or_skip()
    info = model_info(IndexConfig())
    assert info["name"] == "en_core_web_sm" and info["package"] == package
    assert re.fullmatch(r"\d+\.\d+\.\d+", info["version"])
    assert index_key(IndexConfig()) == IndexConfig().key(info["version"])


@pytest.mark.parametrize("sentences, pipes", [("senter", ["senter", "ner"]), ("parser", ["tok2vec", "parser", "ner"])])
def test_load_keeps_only_what_sentences_and_entities_need(sentences, pipes):
    _model_or_skip()
    nlp = load_nlp(IndexConfig(sentences=sentences))
    assert nlp.pipe_names == pipes
    doc = nlp("Marie Curie moved to Paris in 1891. She won two Nobel prizes.")
    assert [s.text for s in doc.sents] == ["Marie Curie moved to Paris in 1891.", "She won two Nobel prizes."]
    assert {e.label_ for e in doc.ents} >= {"PERSON", "GPE", "DATE"}
