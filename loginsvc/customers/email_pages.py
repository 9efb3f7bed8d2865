from flask import Blueprint
bp = Blueprint("email_pages", __name__)
