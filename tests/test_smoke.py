from tests.conftest import new_op_id


def test_checkin_roundtrip(client, login, make_user, make_site, make_checkpoint):
    site = make_site()
    staff = make_user(sites=[site])
    checkpoint = make_checkpoint(site)
    login(staff)
    assert client.get(f"/c/{checkpoint.token}").status_code == 200
    response = client.post(f"/c/{checkpoint.token}", data={"op_id": new_op_id()})
    assert response.status_code == 201
