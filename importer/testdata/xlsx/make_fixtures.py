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

# samples/crm-contacts.xlsx: a CRM's contact export as a workbook, for samples/crm-contacts.yaml.
wb = openpyxl.Workbook()
ws = wb.active
ws.title = "Контакты"
ws.append(["ID", "Имя", "Фамилия", "Рабочий email", "Мобильный телефон", "Дата рождения", "Город",
           "Теги", "Дата создания", "Telegram", "Сумма покупок"])
people = [
    (18201, "Анна", "Смирнова", "anna.smirnova@mail.ru", 79161234567, dt.date(1991, 3, 14), "Москва", "Клиенты, Рассылка", dt.datetime(2023, 5, 4, 10, 15), "@anna_smirnova", 15990.5),
    (18202, "Иван", "Петров", "i.petrov@yandex.ru", "+7 903 555-12-34", dt.date(1985, 11, 2), "Санкт-Петербург", "Клиенты", dt.datetime(2023, 5, 6, 9, 0), None, 0),
    (18203, "Ольга", "Кузнецова", "Olga.Kuznetsova@Gmail.com", 89261234501, None, "Казань", "Тренинг SMM", dt.datetime(2023, 6, 1, 18, 45, 30), "@olga_kuz", 4990),
    (18204, "Сергей", "Волков", "sergey.volkov@bk.ru", 79257001122, dt.date(1988, 2, 29), "Екатеринбург", "Рассылка", dt.datetime(2023, 6, 2, 0, 0), None, None),
    (18205, "Мария", "Иванова", "maria.ivanova@mail", 79051112233, dt.date(1979, 7, 30), "Новосибирск", "Клиенты", dt.datetime(2023, 7, 15, 14, 5), None, 1200),
    (18206, "Дмитрий", "Соколов", "d.sokolov@inbox.ru", "8 (916) 000-11-22", dt.date(1993, 9, 9), "Москва", "VIP Студенты, Клиенты", dt.datetime(2023, 8, 20, 11, 30), "@dsokolov", 125000),
    (18207, "Елена", "Попова", "elena.popova@yandex.ru", 79991234567, dt.date(2000, 1, 1), "Самара", "Марафон", dt.datetime(2023, 9, 1, 8, 0), None, 990),
    (18208, "Алексей", "Лебедев", "a.lebedev@gmail.com", None, dt.date(1975, 12, 31), "Казань", "Рассылка", dt.datetime(2023, 9, 3, 16, 20), "@lebedev", None),
    (18209, "Наталья", "Козлова", "n.kozlova@mail.ru", 79031112200, None, "Пермь", "Клиенты", dt.datetime(2023, 10, 10, 10, 10), None, 3490),
    (18210, "Павел", "Новиков", "pavel.novikov@bk.ru", 79219876543, dt.date(1990, 6, 15), "Санкт-Петербург", "Тренинг SMM, Рассылка", dt.datetime(2023, 11, 11, 11, 11), "@pnovikov", 24990),
]
for p in people:
    ws.append(list(p))
for row in ws.iter_rows(min_row=2):
    row[5].number_format = "DD.MM.YYYY"
    row[8].number_format = "DD.MM.YYYY HH:MM"
    row[10].number_format = '#,##0.00 "₽"'
ws.column_dimensions["D"].width = 28
wb.create_sheet("Сводка").append(["Выгружено контактов", len(people)])
wb.save("../../../samples/crm-contacts.xlsx")
