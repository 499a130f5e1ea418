from streamlit.testing.v1 import AppTest


def test_app_starts_and_shows_the_books_parameter_count():
    app = AppTest.from_file("../app.py", default_timeout=60).run()
    assert not app.exception
    assert app.title[0].value == "GPT explorer"
    assert app.metric[0].value == "163,009,536"
