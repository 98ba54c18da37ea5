# One-off generator of the workbook fixtures in this folder, written with tools independent of
# gcbatch's reader: openpyxl 3.0.9 (Debian bookworm's python3-openpyxl) for the .xlsx files and
# xlwt 1.3.0 (python3-xlwt) for the old binary .xls. The tests only read the committed files;
# run `/usr/bin/python3 make_fixtures.py` here to make them again.
import datetime as dt

import openpyxl
import xlwt

wb = openpyxl.Workbook()
ws = wb.active
ws.title = "Контакты"
ws.append(["Имя", "Фамилия", "Email", "Телефон", "Дата рождения", "Создан", "Сумма", "ИНН",
           "Активен", "Код клиента", "Комментарий", "Время"])
rows = [
    ["Иван", "Петров", "ivan@example.ru", 79001234567, dt.date(1990, 5, 17),
     dt.datetime(2024, 3, 1, 12, 30), 9990.5, "7707083893", True, "00123", "две\nстроки", dt.time(9, 15)],
    None,  # an empty row: skipped, the next keeps its own row number
    ["Мария", "Иванова", "maria@example.ru", "+7 (921) 555-66-77", dt.datetime(1985, 12, 31),
     dt.datetime(2024, 1, 2, 0, 0), 0.1 + 0.2, 123456789012, False, "000", "  пробелы  ", None],
    ["Ольга", None, "olga@example.ru", 89211234567.0, dt.date(2000, 2, 29),
     dt.datetime(2023, 12, 31, 23, 59, 59), -1234567.25, "+79001234567", None, "007", "_x000D_ как текст", None],
]
formats = {
    5: ["DD.MM.YYYY", None, "D MMMM YYYY", "mm-dd-yy"],
    6: ["DD.MM.YYYY HH:MM", None, "yyyy-mm-dd h:mm", "[$-F800]dddd, mmmm dd, yyyy"],
    7: ['#,##0.00 "₽"', None, "0.00", "#,##0.00;[Red]-#,##0.00"],
    12: ["h:mm", None, None, None],
}
r = 2
for row in rows:
    if row is None:
        r += 1
        continue
    for c, v in enumerate(row, start=1):
        if v is None:
            continue
        cell = ws.cell(row=r, column=c, value=v)
        fmt = formats.get(c)
        if fmt and fmt[r - 2]:
            cell.number_format = fmt[r - 2]
    r += 1
wb.create_sheet("Сделки").append(["Номер", "Сумма"])
wb["Сделки"].append(["A-1", 100])
wb.save("openpyxl-contacts.xlsx")

book = xlwt.Workbook()
sh = book.add_sheet("Sheet1")
sh.write(0, 0, "Email")
sh.write(1, 0, "a@example.ru")
book.save("old-binary.xls")
