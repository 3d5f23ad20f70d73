"""Report descriptors of real devices, byte by byte, with where each comes from.

Shared by the parser's tests and the emulated HID remotes of the BlueZ tests.
"""

from __future__ import annotations


def _hex(text: str) -> bytes:
    return bytes.fromhex(" ".join(line.split("#")[0] for line in text.strip().splitlines()))


#: A BLE camera-shutter remote's layout (the "AB Shutter3" class: its two buttons send
#: Volume Up on the consumer page and Enter on the keyboard page): a boot keyboard (report 1),
#: consumer bits Volume Up/Down (report 2) and a 16-bit consumer array (report 3). Written
#: from the HID Usage Tables in our test bench notes (§15), as such remotes declare it.
SHUTTER = _hex(
    """
    05 01 09 06 A1 01 85 01          # Generic Desktop / Keyboard / Application / id 1
    05 07 19 E0 29 E7 15 00 25 01    # modifiers LeftControl..RightGUI
    75 01 95 08 81 02                #   8 x 1 bit, Data Var Abs
    95 01 75 08 81 01                #   reserved byte, Constant
    95 06 75 08 15 00 25 65          #   6 keys, 8 bits, 0..101
    05 07 19 00 29 65 81 00 C0       #   Keyboard 0..0x65, Data Array Abs
    05 0C 09 01 A1 01 85 02          # Consumer / Consumer Control / id 2
    15 00 25 01 75 01 95 02          #   2 x 1 bit
    09 E9 09 EA 81 02                #   Volume Up, Volume Down
    95 06 81 01 C0                   #   padding
    05 0C 09 01 A1 01 85 03          # Consumer Control / id 3
    15 00 26 FF 03 19 00 2A FF 03    #   0..1023, usages 0..0x3FF
    75 10 95 01 81 00 C0             #   one 16-bit array item
    """
)

#: A BLE remote's Report Map: MiRemoteBridge (an ESP32-C3 BLE bridge for the Xiaomi RC003
#: remote), ``hid_report_map.h``, MIT: keyboard on report 1 (modifier byte, reserved byte,
#: six key codes), consumer control on report 2 as one 16-bit usage.
MI_REMOTE = _hex(
    """
    05 01 09 06 A1 01 85 01
    05 07 19 E0 29 E7 15 00 25 01 75 01 95 08 81 02
    75 08 95 01 81 01
    05 07 19 00 29 65 15 00 25 65 75 08 95 06 81 00
    C0
    05 0C 09 01 A1 01 85 02
    15 00 26 FF 03 19 00 2A FF 03 75 10 95 01 81 00
    C0
    """
)

#: A consumer-control (media) remote: the Report Map of an ESP32 BLE HID headphone remote
#: built on ESP-IDF's ``hid_device_le_prf.c``: report 5, seven one-bit Variable, Relative
#: inputs (Play/Pause, Brightness +/-, Next, Previous, Volume Up, Volume Down), one usage
#: per Input item, then one constant byte (its Report Size is 8 although its comment says 1).
MEDIA_REMOTE = _hex(
    """
    05 0C 09 01 A1 01 85 05
    15 00 25 01 75 01 95 01
    09 CD 81 06  09 6F 81 06  09 70 81 06  09 B5 81 06
    09 B6 81 06  09 E9 81 06  09 EA 81 06
    95 01 75 08 81 01
    C0
    """
)

#: A presentation clicker's keyboard: clickers (USB or 2.4 GHz dongles, and BLE ones) are
#: boot keyboards sending Page Up/Down, B, F5 and Escape. This is the boot keyboard's
#: descriptor of the HID 1.11 specification, Appendix E.6 (no report ids; LED output report).
CLICKER = _hex(
    """
    05 01 09 06 A1 01 05 07 19 E0 29 E7 15 00 25 01 75 01 95 08 81 02
    95 01 75 08 81 01
    95 05 75 01 05 08 19 01 29 05 91 02    # LEDs (output: no room in input reports)
    95 01 75 03 91 01
    95 06 75 08 15 00 25 65 05 07 19 00 29 65 81 00
    C0
    """
)

#: A consumer-control remote's descriptor as CircuitPython's HID library ships it (quoted in
#: adafruit/Adafruit_CircuitPython_HID pull request 63): report 3, one 16-bit array item whose
#: logical range starts at 1 (so a value v is usage v, and 0 is "nothing").
CONSUMER_16BIT = _hex(
    """
    05 0C 09 01 A1 01 85 03
    75 10 95 01 15 01 26 8C 02 19 01 2A 8C 02 81 00
    C0
    """
)

ALL = {
    "consumer_16bit": CONSUMER_16BIT,
    "shutter": SHUTTER,
    "mi_remote": MI_REMOTE,
    "media_remote": MEDIA_REMOTE,
    "clicker": CLICKER,
}
