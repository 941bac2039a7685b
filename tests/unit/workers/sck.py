"""The SCK 1.1 sensors and their SmartCitizen calibrations, as the catalogue seeds them."""

from __future__ import annotations

from datetime import UTC, datetime

from storage.models import Sensor

NOISE_TABLE = (
    "{0:50, 2:55, 3:57, 6:58, 20:59, 40:60, 60:61, 75:62, 115:63, 150:64, 180:65, 220:66, "
    "260:67, 300:68, 375:69, 430:70, 500:71, 575:72, 660:73, 720:74, 820:75, 900:76, 975:77, "
    "1050:78, 1125:79, 1200:80, 1275:81, 1320:82, 1375:83, 1400:84, 1430:85, 1450:86, 1480:87, "
    "1500:88, 1525:89, 1540:90, 1560:91, 1580:92, 1600:93, 1620:94, 1640:95, 1660:96, 1680:97, "
    "1690:98, 1700:99, 1710:100, 1720:101, 1745:102, 1770:103, 1785:104, 1800:105, 1815:106, "
    "1830:107, 1845:108, 1860:109, 1875:110}"
)

TEMP, HUM, LIGHT, NO2, CO, BAT, PANEL, NETS, NOISE = 12, 13, 14, 15, 16, 17, 18, 21, 7

# id, default_key, equation, reverse_equation
CALIBRATIONS = [
    (TEMP, "temp", "(175.72 / 65536.0 * x) - 53", "x"),
    (HUM, "hum", "(125.0 / 65536.0 * x) + 7", "x"),
    (LIGHT, "light", "x", "x/10.0"),
    (NO2, "no2", "x", "x/1000.0"),
    (CO, "co", "x", "x/1000.0"),
    (BAT, "bat", "x", "x/10.0"),
    (PANEL, "panel", "x", "x/1000.0"),
    (NETS, "nets", "x", "x"),
    (NOISE, "noise", NOISE_TABLE, "x"),
]

SENSORS = [
    Sensor(sensor_id, key, key, None, equation, reverse, datetime(2024, 1, 1, tzinfo=UTC))
    for sensor_id, key, equation, reverse in CALIBRATIONS
]
