"""The canonical byte form: one encoding, no floats either way."""

import pytest

from kernel.base import canonical


def test_one_byte_form_whatever_the_key_order() -> None:
    assert canonical.dumps({"b": [1, "é"], "a": {"y": None, "x": True}}) == \
        '{"a":{"x":true,"y":null},"b":[1,"é"]}\n'.encode()
    assert canonical.dumps({"a": {"x": True, "y": None}, "b": [1, "é"]}) == \
        canonical.dumps({"b": [1, "é"], "a": {"y": None, "x": True}})


@pytest.mark.parametrize("value", [{"a": 1.5}, {"a": [1, {"b": 0.0}]}, {1: "x"}])
def test_floats_and_other_keys_are_refused_on_the_way_out(value: object) -> None:
    with pytest.raises(TypeError):
        canonical.dumps(value)


def test_a_float_read_back_is_refused_so_loaded_values_need_no_second_check() -> None:
    with pytest.raises(ValueError, match="no floats"):
        canonical.loads(b'{"a":[1,2.5]}\n')
    for constant in (b"NaN", b"Infinity", b"-Infinity"):
        with pytest.raises(ValueError, match="no floats"):
            canonical.loads(b'{"a":' + constant + b'}\n')
    value = canonical.loads(b'{"a":[1,{"b":"c"}],"n":-3}\n')
    assert canonical.dumps(value, loaded=True) == canonical.dumps(value) == b'{"a":[1,{"b":"c"}],"n":-3}\n'
