"""English dates as the plant writes them (ISO order, 24-hour clock), not Django's US defaults; the numbers'
separators stay English. Other languages use Django's own formats (German: 07.12.2026 14:05, 1.234,5)."""

DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "Y-m-d H:i:s"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
