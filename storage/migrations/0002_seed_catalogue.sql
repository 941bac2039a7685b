-- The reference catalogue every SmartCitizen-compatible deployment needs: measurements, the
-- SCK 1.1 sensors with their calibrations (so legacy /v0/add posts calibrate as they did on
-- SmartCitizen) and the SCK 1.1 and SCK 2.1 kits with the keys their firmware posts by.

INSERT INTO measurements (id, name, description, unit) VALUES
    (1, 'air temperature', 'Temperature of the air around the sensor', 'ºC'),
    (2, 'air humidity', 'Relative humidity of the air', '%'),
    (3, 'light', 'Illuminance', 'lux'),
    (4, 'nitrogen dioxide', 'NO2 concentration (MiCS-4514 sensor resistance)', 'kOhm'),
    (5, 'carbon monoxide', 'CO concentration (MiCS-4514 sensor resistance)', 'kOhm'),
    (6, 'battery', 'Charge of the device''s battery', '%'),
    (7, 'solar panel', 'Voltage of the solar panel', 'V'),
    (8, 'wifi networks', 'Wi-Fi networks in range', '#'),
    (9, 'noise level', 'Sound pressure level', 'dB'),
    (10, 'barometric pressure', 'Air pressure', 'kPa'),
    (11, 'PM 1', 'Particulate matter up to 1 µm', 'ug/m3'),
    (12, 'PM 2.5', 'Particulate matter up to 2.5 µm', 'ug/m3'),
    (13, 'PM 10', 'Particulate matter up to 10 µm', 'ug/m3'),
    (14, 'eCO2', 'Equivalent carbon dioxide', 'ppm'),
    (15, 'TVOC', 'Total volatile organic compounds', 'ppb');
SELECT setval(pg_get_serial_sequence('measurements', 'id'), 100);

-- SCK 1.1 sensors: `reverse_equation` turns the posted value into raw_value, `equation` turns
-- raw_value into the calibrated value. Noise's equation is SmartCitizen's mV -> dB table.
INSERT INTO sensors (id, name, description, unit, default_key, equation, reverse_equation, measurement_id) VALUES
    (12, 'HPP828E031', 'Temperature', 'ºC', 'temp', '(175.72 / 65536.0 * x) - 53', 'x', 1),
    (13, 'HPP828E031', 'Humidity', '%', 'hum', '(125.0 / 65536.0 * x) + 7', 'x', 2),
    (14, 'BH1730FVC', 'Light', 'lux', 'light', 'x', 'x/10.0', 3),
    (15, 'MiCS-4514', 'NO2', 'kOhm', 'no2', 'x', 'x/1000.0', 4),
    (16, 'MiCS-4514', 'CO', 'kOhm', 'co', 'x', 'x/1000.0', 5),
    (17, 'Battery', 'Battery', '%', 'bat', 'x', 'x/10.0', 6),
    (18, 'Solar Panel', 'Solar panel voltage', 'V', 'panel', 'x', 'x/1000.0', 7),
    (21, 'Microchip RN-131', 'Wi-Fi networks in range', '#', 'nets', 'x', 'x', 8),
    (7, 'POM-3044P-R', 'Noise level', 'dB', 'noise',
     '{0:50, 2:55, 3:57, 6:58, 20:59, 40:60, 60:61, 75:62, 115:63, 150:64, 180:65, 220:66, 260:67, '
     '300:68, 375:69, 430:70, 500:71, 575:72, 660:73, 720:74, 820:75, 900:76, 975:77, 1050:78, '
     '1125:79, 1200:80, 1275:81, 1320:82, 1375:83, 1400:84, 1430:85, 1450:86, 1480:87, 1500:88, '
     '1525:89, 1540:90, 1560:91, 1580:92, 1600:93, 1620:94, 1640:95, 1660:96, 1680:97, 1690:98, '
     '1700:99, 1710:100, 1720:101, 1745:102, 1770:103, 1785:104, 1800:105, 1815:106, 1830:107, '
     '1845:108, 1860:109, 1875:110}', 'x', 9);

-- SCK 2.1 sensors post calibrated values: no equations.
INSERT INTO sensors (id, name, description, unit, default_key, measurement_id) VALUES
    (10, 'Battery SCK', 'Battery SCK 2.1', '%', 'bat_sck2', 6),
    (53, 'ICS43432', 'Noise level (A-weighted)', 'dBA', 'noise_dba', 9),
    (55, 'SHT31', 'Temperature', 'ºC', 'temp_sht31', 1),
    (56, 'SHT31', 'Relative humidity', '%', 'hum_sht31', 2),
    (58, 'MPL3115A2', 'Barometric pressure', 'kPa', 'pressure', 10),
    (87, 'PMS5003', 'PM 2.5', 'ug/m3', 'pm25', 12),
    (88, 'PMS5003', 'PM 10', 'ug/m3', 'pm10', 13),
    (89, 'PMS5003', 'PM 1', 'ug/m3', 'pm1', 11),
    (112, 'CCS811', 'Equivalent CO2', 'ppm', 'eco2', 14),
    (113, 'CCS811', 'Total volatile organic compounds', 'ppb', 'tvoc', 15);
SELECT setval(pg_get_serial_sequence('sensors', 'id'), 1000);

INSERT INTO kits (id, slug, name, description, version) VALUES
    (3, 'sck-1-1', 'SCK 1.1', 'Smart Citizen Kit 1.1 (Ambient Board 1.1)', '1.1'),
    (26, 'sck-2-1', 'SCK 2.1', 'Smart Citizen Kit 2.1 with PM sensor', '2.1');
SELECT setval(pg_get_serial_sequence('kits', 'id'), 100);

INSERT INTO kit_sensors (kit_id, sensor_id, key) VALUES
    (3, 12, 'temp'), (3, 13, 'hum'), (3, 14, 'light'), (3, 15, 'no2'), (3, 16, 'co'),
    (3, 17, 'bat'), (3, 18, 'panel'), (3, 21, 'nets'), (3, 7, 'noise'),
    (26, 10, 'bat'), (26, 53, 'noise'), (26, 55, 'temp'), (26, 56, 'hum'), (26, 58, 'pressure'),
    (26, 87, 'pm25'), (26, 88, 'pm10'), (26, 89, 'pm1'), (26, 112, 'eco2'), (26, 113, 'tvoc');
