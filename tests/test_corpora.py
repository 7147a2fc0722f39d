import warnings

import pandas as pd
import pytest

from ser_keras import ParameterError, SerWarning
from ser_keras.data.corpora import (
    MANIFEST_COLUMNS,
    build_manifest,
    parse_cremad,
    parse_csv,
    parse_emodb,
    parse_ravdess,
    parse_savee,
    parse_tess,
)
from ser_keras.data.emotions import CANONICAL_EMOTIONS
from ser_keras.data.manifest import summarize

from conftest import CREMAD_TABLE, RAVDESS_DIR, tone, write_wav


def _touch(make_wav, names):
    # a different tone per file: identical audio under two labels is refused (test_bad_input)
    return [make_wav(n, seconds=0.05, freq=200.0 + 7 * i) for i, n in enumerate(names)]


def _check_columns(frame):
    assert list(frame.columns[: len(MANIFEST_COLUMNS)]) == MANIFEST_COLUMNS
    assert set(frame["emotion"]) <= set(CANONICAL_EMOTIONS)


def test_ravdess_names(make_wav, tmp_path):
    _touch(
        make_wav,
        [
            "r/Actor_07/03-01-05-02-01-02-07.wav",  # speech, angry, strong, actor 7 (male)
            "r/Actor_08/03-01-08-01-02-01-08.wav",  # speech, surprise, actor 8 (female)
            "r/Actor_08/03-02-03-01-01-01-08.wav",  # song: not with the default channel
            "r/Actor_08/01-01-03-01-01-01-08.wav",  # audio-video: never
            "r/Actor_08/03-01-09-01-01-01-08.wav",  # unknown emotion code
            "r/Actor_08/readme.wav",  # not a RAVDESS name
        ],
    )
    with pytest.warns(SerWarning) as record:
        frame = parse_ravdess(tmp_path / "r")
    messages = [str(w.message) for w in record]
    assert any("03-01-09-01-01-01-08.wav: unknown RAVDESS emotion code '09'; skipped" in m for m in messages)
    assert any("readme.wav" in m for m in messages)
    _check_columns(frame)
    assert frame[["speaker", "gender", "emotion", "intensity"]].values.tolist() == [
        ["ravdess:07", "male", "angry", "strong"],
        ["ravdess:08", "female", "surprise", "normal"],
    ]
    song = parse_ravdess(tmp_path / "r", vocal_channel="song")
    assert song["emotion"].tolist() == ["happy"]


def test_cremad_with_and_without_demographics(make_wav, tmp_path):
    _touch(make_wav, ["c/1001_DFA_ANG_XX.wav", "c/1002_IEO_HAP_HI.wav", "c/1003_ITS_BOR_LO.wav"])
    with pytest.warns(SerWarning, match="no VideoDemographics.csv"):
        frame = parse_cremad(tmp_path / "c")
    assert frame["gender"].tolist() == ["unknown", "unknown"]
    table = tmp_path / "c" / "VideoDemographics.csv"
    table.write_text(
        "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n1002,21,Female,Caucasian,Not Hispanic\n"
    )
    with pytest.warns(SerWarning, match="unknown CREMA-D emotion code 'BOR'"):
        frame = parse_cremad(tmp_path / "c")
    _check_columns(frame)
    assert frame[["speaker", "gender", "emotion", "intensity"]].values.tolist() == [
        ["cremad:1001", "male", "angry", "unspecified"],
        ["cremad:1002", "female", "happy", "high"],
    ]


@pytest.mark.shared_data
def test_cremad_real_demographics_table(make_wav, tmp_path):
    _touch(make_wav, ["c/1001_DFA_ANG_XX.wav", "c/1002_DFA_SAD_XX.wav", "c/1091_DFA_NEU_XX.wav"])
    frame = parse_cremad(tmp_path / "c", demographics=CREMAD_TABLE)
    table = pd.read_csv(CREMAD_TABLE, dtype=str)
    assert len(table) == 91
    expected = table.set_index("ActorID").loc[["1001", "1002", "1091"], "Sex"].str.lower().tolist()
    assert frame["gender"].tolist() == expected


def test_tess_names_in_any_case(make_wav, tmp_path):
    _touch(
        make_wav,
        [
            "t/OAF_angry/OAF_back_angry.wav",
            "t/yaf_pleasant_surprised/YAF_bath_ps.wav",
            "t/YAF_sad/YAF_wire_sad.WAV",
            "t/OAF_x/OAF_back_bored.wav",
        ],
    )
    with pytest.warns(SerWarning, match="unknown TESS emotion code 'bored'"):
        frame = parse_tess(tmp_path / "t")
    _check_columns(frame)
    assert frame[["speaker", "gender", "emotion"]].values.tolist() == [
        ["tess:OAF", "female", "angry"],
        ["tess:YAF", "female", "sad"],
        ["tess:YAF", "female", "surprise"],
    ]


def test_savee_both_layouts(make_wav, tmp_path):
    _touch(make_wav, ["s/DC_a01.wav", "s/JK/sa03.wav", "s/KL/su15.wav", "s/JE_n02.wav", "s/JE_x01.wav", "s/ZZ_a01.wav"])
    with pytest.warns(SerWarning) as record:
        frame = parse_savee(tmp_path / "s")
    assert any("JE_x01.wav: unknown SAVEE emotion code 'x'" in str(w.message) for w in record)
    assert any("ZZ_a01.wav" in str(w.message) for w in record)
    _check_columns(frame)
    assert sorted(frame[["speaker", "emotion"]].values.tolist()) == [
        ["savee:DC", "angry"],
        ["savee:JE", "neutral"],
        ["savee:JK", "sad"],
        ["savee:KL", "surprise"],
    ]
    assert set(frame["gender"]) == {"male"}


def test_emodb_names(make_wav, tmp_path):
    _touch(make_wav, ["e/wav/03a01Fa.wav", "e/wav/08b02Lb.wav", "e/wav/16a05Wc.wav", "e/wav/11a01Xa.wav"])
    with pytest.warns(SerWarning, match="unknown EMO-DB emotion code 'X'"):
        frame = parse_emodb(tmp_path / "e")
    _check_columns(frame)
    assert frame[["speaker", "gender", "emotion"]].values.tolist() == [
        ["emodb:03", "male", "happy"],
        ["emodb:08", "female", "boredom"],
        ["emodb:16", "female", "angry"],
    ]


def test_csv_manifest_paths_relative_to_csv(make_wav, tmp_path):
    _touch(make_wav, ["u/audio/a.wav", "u/audio/b.wav", "u/audio/c.wav"])
    csv = tmp_path / "u" / "list.csv"
    csv.write_text(
        "path,emotion,speaker,gender\naudio/a.wav,Angry,s1,F\naudio/b.wav,sad,s2,male\naudio/c.wav,grumpy,s3,\n"
    )
    with pytest.warns(SerWarning, match="unknown emotion 'grumpy' on line 4"):
        frame = parse_csv(csv)
    assert frame["path"].tolist() == [str(tmp_path / "u/audio/a.wav"), str(tmp_path / "u/audio/b.wav")]
    assert frame[["speaker", "gender", "emotion"]].values.tolist() == [
        ["csv:s1", "female", "angry"],
        ["csv:s2", "male", "sad"],
    ]
    bad = tmp_path / "u" / "bad.csv"
    bad.write_text("file,label\nx.wav,angry\n")
    with pytest.raises(ParameterError, match="bad.csv: missing column"):
        parse_csv(bad)


def test_build_manifest_combines_selects_and_merges(make_wav, tmp_path):
    _touch(
        make_wav,
        [
            "r/03-01-02-01-01-01-01.wav",
            "r/03-01-01-01-01-01-02.wav",
            "r/03-01-05-01-01-01-03.wav",
            "t/OAF_back_angry.wav",
            "t/OAF_back_happy.wav",
        ],
    )
    manifest = build_manifest(
        [f"ravdess={tmp_path / 'r'}", f"tess={tmp_path / 't'}"], emotions="neutral,angry", merge=["calm=neutral"]
    )
    assert sorted(manifest["emotion"]) == ["angry", "angry", "neutral", "neutral"]
    assert set(manifest["corpus"]) == {"ravdess", "tess"}
    assert list(manifest.index) == [0, 1, 2, 3]
    with pytest.raises(ParameterError, match="unknown emotion 'joy'"):
        build_manifest([f"tess={tmp_path / 't'}"], emotions="joy")
    with pytest.raises(ParameterError, match="needs a path"):
        build_manifest(["tess"])
    with pytest.raises(ParameterError, match="corpus folder not found"):
        build_manifest([f"tess={tmp_path / 'nope'}"])


def test_demo_is_the_default_corpus(tmp_path, demo_root):
    manifest = build_manifest(None, cache_dir=tmp_path)  # generates into tmp_path/demo_corpus
    assert (tmp_path / "demo_corpus" / ".complete").is_file()
    assert len(manifest) == 352 and manifest["speaker"].nunique() == 8
    assert set(manifest["corpus"]) == {"demo"}
    text = summarize(manifest)
    assert "352 files, 8 speakers, 6 emotions" in text and "female 4, male 4" in text


@pytest.mark.shared_data
def test_ravdess_real_files():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the real corpus parses without a single skipped file
        frame = parse_ravdess(RAVDESS_DIR)
    actors = len(list(RAVDESS_DIR.glob("Actor_*")))  # 16 in ../shared today (01-08 before): 60 speech files each
    assert actors >= 8 and len(frame) == 60 * actors
    assert frame["speaker"].nunique() == actors
    assert frame.groupby("gender")["speaker"].nunique().to_dict() == {
        "female": actors // 2,
        "male": actors - actors // 2,
    }
    counts = frame["emotion"].value_counts()
    assert len(counts) == 8 and counts["neutral"] == 4 * actors and set(counts.drop("neutral")) == {8 * actors}


def test_a_csv_manifest_lists_only_recordings_not_system_files_or_escapes(tmp_path):
    from ser_keras.data.corpora import parse_csv

    write_wav(tmp_path / "audio" / "a.wav", tone(seconds=1.0))
    (tmp_path / "audio" / "empty.wav").write_bytes(b"")
    rows = [
        ("audio/a.wav", "angry"),
        ("/proc/self/mem", "angry"),
        ("../../../../../../etc/passwd", "sad"),
        ("audio/empty.wav", "sad"),
        ("/dev/zero", "sad"),
    ]
    manifest = tmp_path / "list.csv"
    pd.DataFrame(rows, columns=["path", "emotion"]).assign(speaker="s1").to_csv(manifest, index=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = parse_csv(manifest)
    assert frame["path"].tolist() == [str((tmp_path / "audio" / "a.wav").resolve())]
    [message] = [str(w.message) for w in caught if "cannot be read" in str(w.message)]
    assert "4 of 5 listed file(s) cannot be read" in message
    assert "/proc/self/mem (a system file, not a recording)" in message and "passwd (not an audio file" in message


def test_a_folder_of_many_badly_named_files_is_one_warning(tmp_path):
    from ser_keras.data.corpora import parse_ravdess

    folder = tmp_path / "Actor_01"
    folder.mkdir()
    good = write_wav(folder / "03-01-05-01-01-01-01.wav", tone(seconds=0.5))
    for i in range(500):
        (folder / f"take{i:04d}.wav").write_bytes(good.read_bytes())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = parse_ravdess(tmp_path)
    assert len(frame) == 1
    lines = [str(w.message) for w in caught]
    assert len(lines) == 1 and "500 file(s) skipped, first" in lines[0] and "take0000.wav" in lines[0], lines


def test_a_folder_per_emotion_is_a_corpus_with_speakers_from_subfolders(tmp_path):
    from ser_keras.data.corpora import build_manifest

    for emotion, speaker in [("angry", "ann"), ("angry", "bob"), ("sad", "ann"), ("sad", "bob")]:
        write_wav(tmp_path / "mine" / emotion / speaker / "take1.wav", tone(seconds=0.5))
    write_wav(tmp_path / "mine" / "Happy" / "loose.wav", tone(seconds=0.5))
    write_wav(tmp_path / "mine" / "bored" / "x" / "take1.wav", tone(seconds=0.5))
    with pytest.warns(SerWarning) as caught:
        manifest = build_manifest([f"folders={tmp_path / 'mine'}"])
    assert sorted(zip(manifest["emotion"], manifest["speaker"])) == [
        ("angry", "folders:ann"),
        ("angry", "folders:bob"),
        ("happy", "folders:file000001"),
        ("sad", "folders:ann"),
        ("sad", "folders:bob"),
    ]
    assert set(manifest["corpus"]) == {"folders"} and set(manifest["gender"]) == {"unknown"}
    messages = " ".join(str(w.message) for w in caught)
    assert "bored" in messages and "not in a folder named by an emotion" in messages
    assert "1 file(s) lie directly in an emotion folder" in messages
