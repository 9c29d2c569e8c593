from historian.quality import Quality, quality_is_bad, quality_label


def test_the_acquisition_down_marker_is_bad_and_says_why():
    assert quality_is_bad(Quality.BAD_ACQUISITION_DOWN)
    assert quality_label(Quality.BAD_ACQUISITION_DOWN) == "bad: no data: acquisition down"


def test_labels_spell_the_other_codes_from_their_names():
    assert quality_label(Quality.BAD_COMM_FAILURE) == "bad: comm failure"
    assert quality_label(Quality.GOOD) == "good"
    assert quality_label(0x2C) == "bad (0x2c)"
