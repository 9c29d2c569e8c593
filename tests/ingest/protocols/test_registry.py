from ingest.protocols.registry import DriverRegistry


def test_the_device_register_layout_reaches_its_driver_and_a_change_rebuilds_it(device):
    drivers = DriverRegistry()
    type(device).objects.filter(pk=device.pk).update(byte_order="little", max_gap_registers=0, max_gap_bits=5)
    device.refresh_from_db()

    driver = drivers.driver_for(device)

    assert (driver.byte_order, driver.max_gap_registers, driver.max_gap_bits) == ("little", 0, 5)
    assert drivers.driver_for(device) is driver
    device.max_gap_registers = 20
    assert drivers.driver_for(device).max_gap_registers == 20
    drivers.close_all()
