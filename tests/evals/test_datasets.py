"""Shipped question sets and `read_items`: every input form, stable ids, clear errors."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pandas as pd
import pytest

from closedpaw_nb import datasets
from closedpaw_nb.errors import ConfigError
from closedpaw_nb.evals.datasets import ITEM_COLUMNS, derive_id, load, names, read_items

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of Peru?"}]


# --- the shipped set -------------------------------------------------------------------


def test_basic_set_shape_columns_and_categories():
    items = load("basic")
    assert list(items.columns) == [*ITEM_COLUMNS, "category", "scorer"]
    assert 55 <= len(items) <= 65
    assert items["id"].is_unique
    assert set(items["category"]) == {"arithmetic", "units", "capitals", "facts", "choice", "json"}
    assert set(items["scorer"]) == {"exact_match", "numeric", "choice", "json_valid"}
    assert items["input"].map(lambda s: isinstance(s, str) and s.strip() != "").all()
    assert items["expected"].map(lambda v: v is not None and v != "").all()
    assert items["system"].isna().all()


def test_basic_set_expected_values_have_the_type_their_scorer_needs():
    items = load()
    for row in items.itertuples():
        if row.scorer == "numeric":
            assert isinstance(row.expected, int | float) and not isinstance(row.expected, bool), row.id
        elif row.scorer == "choice":
            assert row.expected in {"A", "B", "C", "D"}, row.id
            assert "A) " in row.input and "D) " in row.input, row.id
        elif row.scorer == "json_valid":
            assert isinstance(row.expected, dict) and "JSON" in row.input, row.id
        else:
            assert isinstance(row.expected, str), row.id


def test_basic_set_spot_checks():
    expected = load().set_index("id")["expected"]
    assert expected["arithmetic-03"] == 23 * 19
    assert expected["units-05"] == 100 * 9 / 5 + 32
    assert expected["capitals-04"] == "Canberra"
    assert expected["json-04"] == {"is_even": False}


def test_public_module_reexports_load_and_names():
    assert datasets.__all__ == ["load", "names"]
    assert datasets.names() == names() and "basic" in names()
    pd.testing.assert_frame_equal(datasets.load("basic"), load("basic"))


def test_unknown_set_lists_the_available_names():
    with pytest.raises(ConfigError, match=r"no shipped question set named 'nope'; available: .*basic"):
        load("nope")


def test_importing_the_datasets_module_does_not_load_pandas():
    code = "import sys, closedpaw_nb.datasets as d; d.names(); print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stdout + out.stderr


# --- read_items: every input form ------------------------------------------------------


def test_list_of_strings():
    items = read_items(["What is 2 + 2?", "Name a prime."])
    assert list(items.columns) == list(ITEM_COLUMNS)
    assert items["input"].tolist() == ["What is 2 + 2?", "Name a prime."]
    assert items["id"].tolist() == [derive_id("What is 2 + 2?"), derive_id("Name a prime.")]
    assert items["expected"].isna().all() and items["system"].isna().all()


def test_list_of_dicts_keeps_metadata_and_values():
    items = read_items(
        [
            {"id": 7, "input": "2+2?", "expected": 4, "difficulty": 1},
            {"input": MESSAGES, "expected": "Lima", "system": "Answer in one word.", "difficulty": 2},
            "A bare string mixes in.",
        ]
    )
    assert list(items.columns) == [*ITEM_COLUMNS, "difficulty"]
    assert items.loc[0, "id"] == "7" and items.loc[0, "expected"] == 4 and type(items.loc[0, "expected"]) is int
    assert items.loc[1, "input"] == MESSAGES and items.loc[1, "system"] == "Answer in one word."
    assert items.loc[1, "id"] == derive_id(MESSAGES)
    assert items.loc[2, "expected"] is None and math.isnan(items.loc[2, "difficulty"])


def test_dataframe_is_normalised_and_left_unmodified():
    frame = pd.DataFrame(
        {"topic": ["geo", "math"], "input": ["Capital of Chile?", "3*3?"], "expected": ["Santiago", 9]}
    )
    before = frame.copy()
    items = read_items(frame)
    pd.testing.assert_frame_equal(frame, before)
    assert list(items.columns) == [*ITEM_COLUMNS, "topic"]
    assert items["expected"].tolist() == ["Santiago", 9]


def test_csv_file_reads_cells_as_text(tmp_path):
    path = tmp_path / "items.csv"
    path.write_text("id,input,expected,note\nq1,Chemical symbol of sodium?,NA,\nq2,Bond's number?,007,film\n")
    items = read_items(path)
    assert items["id"].tolist() == ["q1", "q2"]
    assert items["expected"].tolist() == ["NA", "007"]  # no type guessing, "NA" is not missing
    assert pd.isna(items.loc[0, "note"]) and items.loc[1, "note"] == "film"  # empty cell = missing
    pd.testing.assert_frame_equal(read_items(str(path)), items)


def test_jsonl_and_json_files(tmp_path):
    rows = [{"input": "Capital of Peru?", "expected": "Lima"}, {"input": MESSAGES, "expected": {"city": "Lima"}}]
    jsonl = tmp_path / "items.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")  # blank lines are skipped
    array = tmp_path / "items.json"
    array.write_text(json.dumps(rows))
    items = read_items(jsonl)
    assert items["input"].tolist() == ["Capital of Peru?", MESSAGES]
    assert items["expected"].tolist() == ["Lima", {"city": "Lima"}]
    pd.testing.assert_frame_equal(read_items(array), items)


def test_parquet_file_with_a_message_list_column(tmp_path):
    path = tmp_path / "items.parquet"
    pd.DataFrame({"input": [MESSAGES, MESSAGES[1:]], "expected": ["Lima", "Lima"], "split": ["a", "b"]}).to_parquet(
        path
    )
    items = read_items(path)
    assert items["input"].tolist() == [MESSAGES, MESSAGES[1:]]  # numpy arrays from Parquet become lists
    assert items["split"].tolist() == ["a", "b"]
    assert items["id"].tolist() == [derive_id(MESSAGES), derive_id(MESSAGES[1:])]


def test_derived_ids_are_stable_and_depend_only_on_the_input():
    first = read_items(["Capital of Peru?", "Capital of Chile?"])["id"].tolist()
    again = read_items([{"input": "Capital of Chile?", "expected": "x"}, {"input": "Capital of Peru?"}])["id"]
    assert again.tolist() == first[::-1]
    # a fixed value, so a change to the hashing (which would orphan stored results) fails here
    # pinned: sha256("What is 2 + 2?") starts 38d46ad3618826cf; a change to the hashing would
    # orphan every stored result keyed by a derived id, so it must fail here
    assert derive_id("What is 2 + 2?") == "item-38d46ad3618826cf"
    # a message list hashes the same whatever the key order of its dicts
    assert derive_id([{"content": "hi", "role": "user"}]) == derive_id([{"role": "user", "content": "hi"}])


# --- read_items: errors ----------------------------------------------------------------


def test_missing_input_column_names_the_columns_found():
    with pytest.raises(ConfigError, match=r"need an 'input' column.*found columns: \['question', 'answer'\]"):
        read_items([{"question": "2+2?", "answer": 4}])
    with pytest.raises(ConfigError, match=r"rename 'prompt' to 'input'"):
        read_items(pd.DataFrame({"prompt": ["hi"]}))


def test_duplicate_ids_are_named():
    with pytest.raises(ConfigError, match=r"repeated: 'a', 'b'$"):
        read_items(
            [{"id": "a", "input": "x"}, {"id": "a", "input": "y"}, {"id": "b", "input": "z"}, {"id": "b", "input": "w"}]
        )
    with pytest.raises(ConfigError, match="derived from identical inputs"):
        read_items(["same", "same"])


def test_bad_inputs_name_the_row():
    with pytest.raises(ConfigError, match="row 1 has no input"):
        read_items([{"input": "ok"}, {"input": None}])
    with pytest.raises(ConfigError, match="row 0: input must be a string or a non-empty list of message dicts"):
        read_items([{"input": [{"text": "no role"}]}])
    with pytest.raises(ConfigError, match="row 0: system must be a string"):
        read_items([{"input": "x", "system": 3}])
    with pytest.raises(ConfigError, match="item 1 is a int"):
        read_items(["x", 3])
    with pytest.raises(ConfigError, match="not dict"):
        read_items({"input": "x"})
    with pytest.raises(ConfigError, match="found no items"):
        read_items(pd.DataFrame({"input": []}))


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such file.*pass them in a list"):
        read_items("What is the capital of France?")
    with pytest.raises(ConfigError, match="no such file"):
        read_items(tmp_path / "missing.csv")
    (tmp_path / "items.txt").write_text("hello")
    with pytest.raises(ConfigError, match=r"supported file types are \.csv, \.jsonl"):
        read_items(tmp_path / "items.txt")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": "ok"}\n{"input": \n')
    with pytest.raises(ConfigError, match="bad.jsonl line 2 is not valid JSON"):
        read_items(bad)
    not_array = tmp_path / "obj.json"
    not_array.write_text('{"input": "x"}')
    with pytest.raises(ConfigError, match="JSON array of objects"):
        read_items(not_array)


def test_files_over_the_size_limit_are_refused(tmp_path):
    path = tmp_path / "big.jsonl"
    path.write_text(json.dumps({"input": "x" * 2000}) + "\n")
    with pytest.raises(ConfigError, match=r"big.jsonl is 2,\d{3} bytes, over the 1,000 bytes limit.*max_bytes="):
        read_items(path, max_bytes=1000)
    assert len(read_items(path, max_bytes=10_000)) == 1
