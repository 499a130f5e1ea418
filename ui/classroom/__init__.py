"""A class taught from the front: its database, the teacher's console, following the teacher, rounds.

store.py (the class's state, no Streamlit) over schema.py (tables and migrations); connection.py
finds the database through st.connection; the rest draws the console and the students' side.
"""
